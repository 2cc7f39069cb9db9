"""timetable.csv: good rows become slots; every bad cell is named by file, line and column."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from appservice.diary_sync.roster import RosterError, load_roster
from appservice.diary_sync.timetable import (
    Timetable,
    lesson_id,
    load_timetable,
    split_lesson_id,
)
from kernel.ids import SourcedId
from synthetic.school import generate_school
from tests.school import small_school

HEADER = (
    "sourcedId,classSourcedId,date,weekday,startTime,endTime,subject,teacherSourcedId,distance\n"
)
DIARY = small_school("tt")


def _load(rows: str) -> Timetable:
    return load_timetable((HEADER + rows).encode(), DIARY)


def test_weekly_and_dated_rows_become_lessons_with_defaults_from_the_class() -> None:
    table = _load(
        "w1,tt-5a-math,,1,08:30,09:15,,,false\n"
        "d1,tt-5a-math,2026-12-02,,18:15,18:55,Математика,tt-t1,true\n"
    )
    weekly, dated = table.slots
    assert weekly.teacher_id == "tt-t4"  # the class's only teacher
    assert weekly.subject == "5a math"  # no subject column value: the class title
    assert (dated.day, dated.start, dated.distance) == (date(2026, 12, 2), time(18, 15), True)
    week = list(table.lessons(date(2026, 11, 30), 7))
    assert [lesson.id for lesson in week] == ["w1@2026-11-30", "d1@2026-12-02"]


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("x,tt-5a-math,,1,8:3,09:15,,,", "startTime", "malformed time"),
        ("x,tt-5a-math,,1,09:15,08:30,,,", "endTime", "ends before it starts"),
        ("x,nope,,1,08:30,09:15,,,", "classSourcedId", "no class 'nope'"),
        ("x,tt-5a-math,2026-12-01,2,08:30,09:15,,,", "date", "exactly one of date and weekday"),
        ("x,tt-5a-math,,8,08:30,09:15,,,", "weekday", "expected 1 (Monday) to 7"),
        ("x,tt-5a-math,01.12.2026,,08:30,09:15,,,", "date", "malformed date"),
        ("x,tt-5a-math,,1,08:30,09:15,,tt-s1,", "teacherSourcedId", "no teacher 'tt-s1'"),
        ("x,tt-5a-math,,1,08:30,09:15,,,yes", "distance", "expected true or false"),
        (",tt-5a-math,,1,08:30,09:15,,,", "sourcedId", "required value is blank"),
    ],
)
def test_a_bad_cell_is_named_by_file_line_and_column(row: str, column: str, reason: str) -> None:
    with pytest.raises(RosterError) as caught:
        _load("ok,tt-5a-math,,1,08:30,09:15,,,\n" + row + "\n")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == ("timetable.csv", 3, column)
    assert reason in problem.reason


def test_duplicate_ids_and_missing_columns_are_refused() -> None:
    with pytest.raises(RosterError, match="duplicate sourcedId 'a'"):
        _load("a,tt-5a-math,,1,08:30,09:15,,,\na,tt-5a-math,,2,08:30,09:15,,,\n")
    with pytest.raises(RosterError) as caught:
        load_timetable(b"sourcedId,classSourcedId,date\n", DIARY)
    assert {p.column for p in caught.value.problems} == {"startTime", "endTime"}


def test_lesson_ids_are_stable_and_round_trip() -> None:
    table = _load("w1,tt-5a-math,,3,08:30,09:15,,,\n")
    value = lesson_id(SourcedId("w1"), date(2026, 12, 2))
    assert split_lesson_id(value) == ("w1", date(2026, 12, 2))
    assert table.lesson(value) is not None
    assert table.lesson("w1@2026-12-03") is None  # a Thursday: the slot is on Wednesdays
    assert table.lesson("garbage") is None
    assert table.lesson("w1@not-a-date") is None


def test_the_demo_timetable_is_the_generated_one_and_loads_cleanly() -> None:
    demo = Path(__file__).parents[2] / "demo" / "school"
    diary = load_roster(demo)
    loaded = load_timetable((demo / "timetable.csv").read_bytes(), diary)
    school = generate_school(150, seed=1)
    assert loaded == school.timetable
    assert any(slot.distance for slot in loaded.slots)
    assert all(slot.teacher_id for slot in loaded.slots)
