"""«Управление → Собрания»: who may call which meeting, and the form's checks."""

from __future__ import annotations

from datetime import datetime

import pytest

from appservice.diary_sync.names import RU
from kernel.ids import ServerName, SourcedId
from tests.school import small_school
from web_client.meetings import MeetingFormError, read_form, targets

DIARY = small_school("m")
SERVER = ServerName("school.example")
NOW = datetime(2026, 11, 29, 12, 0)


def sid(local: str) -> SourcedId:
    return SourcedId(f"m-{local}")


def of(local: str):  # type: ignore[no-untyped-def]
    return targets(DIARY, DIARY.people[sid(local)], RU, SERVER)


def test_the_administration_calls_school_and_grade_meetings_and_meets_any_parent() -> None:
    found = of("a1")
    assert [g.name for g in found.groups] == [
        "Родители — вся школа",
        "Родители 5-х классов",
        "Родители 6-х классов",
    ]
    assert {p.person_id for p in found.parents} == {sid("p1"), sid("p2"), sid("p3")}


def test_a_class_teacher_calls_the_meetings_they_moderate_and_meets_the_class_parents() -> None:
    found = of("t1")  # class teacher of 5А
    assert [g.name for g in found.groups] == [
        "Родители — вся школа",
        "Родители 5-х классов",
        "5А — родители",
    ]
    assert all(g.alias.endswith(":school.example") for g in found.groups)
    assert {p.person_id for p in found.parents} == {sid("p1"), sid("p2")}
    p2 = next(p for p in found.parents if p.person_id == sid("p2"))
    assert p2.children == "Иван, Иван"  # both of p2's children, 5А and 5Б


def test_a_subject_teacher_and_a_parent_call_nothing() -> None:
    assert of("t4").groups == ()
    assert of("t4").parents == ()
    assert of("p1").groups == ()


def form(**fields: str) -> dict[str, str]:
    return {"title": "Итоги четверти", "date": "2026-12-01", "time": "18:00", **fields}


def test_the_form_reads_a_class_meeting_and_a_one_to_one_meeting() -> None:
    allowed = of("t1")
    alias = allowed.groups[-1].alias
    group = read_form(form(where=alias, minutes="60"), allowed, NOW)
    assert group.room_alias == alias
    assert group.parent is None
    assert group.minutes == 60
    assert group.starts_at == datetime(2026, 12, 1, 18, 0)
    one = read_form(form(where=f"parent:{sid('p1')}"), allowed, NOW)
    assert one.parent == sid("p1")
    assert one.minutes == 45


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"date": "завтра"}, "date"),
        ({"date": "2026-11-29", "time": "11:00"}, "date"),  # in the past
        ({"date": "2028-01-01"}, "date"),
        ({"minutes": "5"}, "minutes"),
        ({"minutes": "час"}, "minutes"),
        ({"where": "parent:m-p3"}, "where"),  # not a parent of t1's class
        ({"where": "#parta.other:school.example"}, "where"),
    ],
)
def test_the_form_refuses_with_the_field_named(fields: dict[str, str], field: str) -> None:
    allowed = of("t1")
    values = form(**{"where": allowed.groups[0].alias, **fields})
    with pytest.raises(MeetingFormError) as refused:
        read_form(values, allowed, NOW)
    assert refused.value.field == field
