"""The layout of a school, role by role (pure)."""

from __future__ import annotations

import pytest

from appservice.diary_sync.layout import Levels, RoomKind, RoomSpec, layout_diary
from appservice.diary_sync.names import EN
from kernel.ids import SourcedId
from tests.school import small_school

DIARY = small_school("l")
LAYOUT = layout_diary(DIARY)[0]


def rooms_of(person: str) -> set[tuple[RoomKind, str]]:
    pid = SourcedId(f"l-{person}")
    return {(s.kind, s.name) for s in LAYOUT.rooms if pid in s.members}


def spec(kind: RoomKind, name: str) -> RoomSpec:
    return next(s for s in LAYOUT.rooms if s.kind is kind and s.name == name)


SPACE = (RoomKind.SPACE, "Школа l")
NEWS = (RoomKind.ANNOUNCEMENTS, "Объявления")
STAFF = (RoomKind.STAFF, "Учительская")
ALL_PARENTS = (RoomKind.SCHOOL_PARENTS, "Родители — вся школа")


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("s1", {SPACE, NEWS, (RoomKind.CLASS, "5А — класс")}),
        ("s6", {SPACE, NEWS, (RoomKind.CLASS, "6А — класс")}),
        (
            "p2",  # a parent of children in 5А and 5Б
            {
                SPACE,
                NEWS,
                ALL_PARENTS,
                (RoomKind.CLASS_PARENTS, "5А — родители"),
                (RoomKind.CLASS_PARENTS, "5Б — родители"),
                (RoomKind.GRADE_PARENTS, "Родители 5-х классов"),
            },
        ),
        (
            "t1",  # class teacher of 5А
            {
                SPACE,
                NEWS,
                STAFF,
                ALL_PARENTS,
                (RoomKind.CLASS, "5А — класс"),
                (RoomKind.CLASS_PARENTS, "5А — родители"),
                (RoomKind.GRADE_PARENTS, "Родители 5-х классов"),
            },
        ),
        (
            "t4",  # maths teacher of 5А and 5Б, no class of their own
            {SPACE, NEWS, STAFF, (RoomKind.CLASS, "5А — класс"), (RoomKind.CLASS, "5Б — класс")},
        ),
        (
            "a1",  # the administration: reports of messages reach it in «Модерация»
            {
                SPACE,
                NEWS,
                STAFF,
                (RoomKind.MODERATION, "Модерация"),
                ALL_PARENTS,
                (RoomKind.GRADE_PARENTS, "Родители 5-х классов"),
                (RoomKind.GRADE_PARENTS, "Родители 6-х классов"),
            },
        ),
    ],
)
def test_each_role_is_in_exactly_its_rooms(
    person: str, expected: set[tuple[RoomKind, str]]
) -> None:
    assert rooms_of(person) == expected


def test_powers_follow_roles() -> None:
    room = spec(RoomKind.CLASS, "5А — класс")
    assert dict(room.power) == {
        SourcedId("l-t1"): Levels.CLASS_TEACHER,
        SourcedId("l-t4"): Levels.TEACHER,
    }
    assert spec(*NEWS).events_default == Levels.TEACHER
    assert spec(*STAFF).power_of(SourcedId("l-a1")) == Levels.ADMINISTRATION


def test_rooms_with_minors_never_federate() -> None:
    for room in LAYOUT.rooms:
        has_students = any(DIARY.people[p].role.value == "student" for p in room.members)
        assert not (has_students and room.federate), room.name
    assert spec(*STAFF).federate  # adults only: remote accounts may be invited


def test_every_room_but_the_space_sits_in_the_space_and_keys_are_unique() -> None:
    assert LAYOUT.space.is_space
    assert all(r.parent == LAYOUT.space.key for r in LAYOUT.rooms[1:])
    assert len({r.key for r in LAYOUT.rooms}) == len(LAYOUT.rooms)


def test_names_are_russian_by_default_and_english_where_configured() -> None:
    english = layout_diary(DIARY, EN)[0]
    assert {r.name for r in english.rooms} >= {"Announcements", "Staff room", "5А — class"}
    assert [r.key for r in english.rooms] == [r.key for r in LAYOUT.rooms]  # same rooms, renamed


def test_a_safeguarding_lead_moderates_with_the_administration_and_nobody_else_can_be_named() -> (
    None
):
    diary = small_school("g")
    lead, pupil, parent = SourcedId("g-t2"), SourcedId("g-s1"), SourcedId("g-p1")
    (layout,) = layout_diary(diary, moderators=frozenset({lead, pupil, parent}))
    room = next(r for r in layout.rooms if r.kind is RoomKind.MODERATION)
    assert room.members == {SourcedId("g-a1"), lead}
    assert room.power_of(lead) == Levels.CLASS_TEACHER
    assert room.power_of(SourcedId("g-a1")) == Levels.ADMINISTRATION
    (plain,) = layout_diary(diary)
    assert next(r for r in plain.rooms if r.kind is RoomKind.MODERATION).members == {"g-a1"}
