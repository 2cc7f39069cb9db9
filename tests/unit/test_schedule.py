"""Whose lessons a person sees, the lesson window and who may open which journal."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from appservice.diary_sync.timetable import Lesson, Slot, Timetable
from kernel.ids import SourcedId
from tests.school import small_school
from web_client.schedule import (
    Window,
    journal_classes,
    long_date,
    may_see_lesson,
    monday_of,
    week,
    window_state,
)

DIARY = small_school("sc")
MONDAY = date(2026, 11, 30)


def sid(local: str) -> SourcedId:
    return SourcedId(f"sc-{local}")


def _slot(name: str, class_id: str, teacher: str, weekday: int, distance: bool = False) -> Slot:
    return Slot(
        sid(name),
        sid(class_id),
        time(18, 15),
        time(18, 55),
        "Математика",
        sid(teacher),
        distance=distance,
        weekday=weekday,
    )


TIMETABLE = Timetable(
    (
        _slot("m1", "5a-math", "t4", 1),
        _slot("m2", "5b-math", "t4", 2, distance=True),
        _slot("p1", "6a-phys", "t2", 3),
    )
)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (datetime(2026, 11, 30, 18, 4), Window.BEFORE),
        (datetime(2026, 11, 30, 18, 5), Window.OPEN),  # 10 minutes before the start
        (datetime(2026, 11, 30, 19, 10), Window.OPEN),  # 15 minutes after the end
        (datetime(2026, 11, 30, 19, 11), Window.OVER),
    ],
)
def test_the_lesson_window_opens_ten_minutes_before_and_closes_fifteen_after(
    now: datetime, state: Window
) -> None:
    lesson = Lesson(TIMETABLE.slots[0], MONDAY)
    assert window_state(lesson, now) is state


def test_a_student_sees_their_classes_lessons_and_a_teacher_their_own() -> None:
    student = week(DIARY, TIMETABLE, sid("s4"), MONDAY, ())  # 5Б
    assert [(d.day.isoweekday(), [e.lesson.slot.id for e in d.entries]) for d in student] == [
        (1, []),
        (2, ["sc-m2"]),
        (3, []),
        (4, []),
        (5, []),
        (6, []),
    ]
    assert student[1].entries[0].distance
    teacher = week(DIARY, TIMETABLE, sid("t4"), MONDAY, ("sc-m1@2026-11-30",))
    taught = [e for d in teacher for e in d.entries]
    assert [(e.lesson.slot.id, e.distance) for e in taught] == [("sc-m1", True), ("sc-m2", True)]


def test_who_may_see_a_lesson() -> None:
    lesson = Lesson(TIMETABLE.slots[0], MONDAY)  # 5А maths
    for person, expected in [
        ("s1", True),  # in 5А
        ("s4", False),  # 5Б
        ("p1", True),  # parent of s1
        ("p3", False),  # parent of a 6А pupil
        ("t4", True),  # teaches it
        ("t3", False),  # another teacher
        ("a1", True),  # the administration
    ]:
        assert may_see_lesson(DIARY, sid(person), lesson) is expected, person


def test_only_staff_have_journals_teachers_their_own_the_administration_all() -> None:
    assert journal_classes(DIARY, sid("s1")) == []
    assert journal_classes(DIARY, sid("p1")) == []
    own = journal_classes(DIARY, sid("t4"))
    # no `subjects` in this roster: the class title stands for both
    assert {(j.group, j.subject) for j in own} == {("5a math", "5a math"), ("5b math", "5b math")}
    assert len(journal_classes(DIARY, sid("a1"))) == 3


def test_dates_are_shown_the_way_the_seed_shows_them() -> None:
    assert long_date(date(2022, 11, 28)) == "Понедельник, 28 ноября 2022 г."
    assert monday_of(date(2026, 12, 3)) == MONDAY
