"""The timetable: parta's own CSV beside a OneRoster export (OneRoster has none).

``timetable.csv`` columns (header names matched like OneRoster's, any order):

============== ========= ==========================================================
column         required  meaning
============== ========= ==========================================================
sourcedId      yes       the lesson (or weekly slot) id, unique in the file
classSourcedId yes       a class of ``classes.csv`` (a subject class or a homeroom)
date           one of    ``YYYY-MM-DD`` for a one-off lesson
weekday        one of    ``1``–``7`` (Monday = 1) for a lesson every week
startTime      yes       ``HH:MM``, the school's local time
endTime        yes       ``HH:MM``, after ``startTime``
subject        no        defaults to the class's subject
teacherSourcedId no      defaults to the class's primary (or only) teacher
room           no        the classroom, e.g. ``каб. 21``
distance       no        ``true`` for a distance lesson (default ``false``)
============== ========= ==========================================================

A weekly slot becomes a lesson on every matching day; a lesson's id is the slot
id and its date (``slot@2026-11-30``), stable, so a distance lesson made in the
journal and a call link keep pointing at the same lesson.

    bytes ─► read_table ─► rows checked one by one ─► cross-checked with the Diary
                                                   ─► Timetable (or RosterError)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from appservice.diary_sync.model import Diary, EnrollmentRole
from appservice.diary_sync.roster.csvfile import Row, read_table
from appservice.diary_sync.roster.errors import Problem, RosterError
from appservice.diary_sync.roster.fields import read_bool, read_required
from kernel.ids import SourcedId

TIMETABLE = "timetable.csv"
COLUMNS = (
    "sourcedId",
    "classSourcedId",
    "date",
    "weekday",
    "startTime",
    "endTime",
    "subject",
    "teacherSourcedId",
    "room",
    "distance",
)


@dataclass(frozen=True)
class Slot:
    """One row of the timetable: a one-off lesson (``day``) or a weekly one (``weekday``)."""

    id: SourcedId
    class_id: SourcedId
    start: time
    end: time
    subject: str
    teacher_id: SourcedId | None
    room: str = ""
    distance: bool = False
    day: date | None = None
    weekday: int | None = None

    def falls_on(self, day: date) -> bool:
        return self.day == day if self.day is not None else day.isoweekday() == self.weekday


@dataclass(frozen=True)
class Lesson:
    """A slot on one day."""

    slot: Slot
    day: date

    @property
    def id(self) -> str:
        return lesson_id(self.slot.id, self.day)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.day, self.slot.start)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.day, self.slot.end)


def lesson_id(slot_id: SourcedId, day: date) -> str:
    return f"{slot_id}@{day.isoformat()}"


def split_lesson_id(value: str) -> tuple[SourcedId, date] | None:
    slot, sep, day = value.rpartition("@")
    if not sep or not slot:
        return None
    try:
        return SourcedId(slot), date.fromisoformat(day)
    except ValueError:
        return None


@dataclass(frozen=True)
class Timetable:
    slots: tuple[Slot, ...] = ()

    def lessons(self, first: date, days: int) -> Iterator[Lesson]:
        """Every lesson from ``first`` for ``days`` days, in time order."""
        found = [
            Lesson(slot, first + timedelta(n))
            for n in range(days)
            for slot in self.slots
            if slot.falls_on(first + timedelta(n))
        ]
        yield from sorted(found, key=lambda lesson: (lesson.starts_at, lesson.slot.id))

    def lesson(self, value: str) -> Lesson | None:
        parsed = split_lesson_id(value)
        if parsed is None:
            return None
        slot_id, day = parsed
        slot = next((s for s in self.slots if s.id == slot_id), None)
        return Lesson(slot, day) if slot is not None and slot.falls_on(day) else None


def load_timetable(data: bytes | None, diary: Diary) -> Timetable:
    """The timetable in ``data`` (``None``: the export has none), checked against ``diary``."""
    if data is None:
        return Timetable()
    table, problems = read_table(TIMETABLE, data)
    if table is None:
        raise RosterError(problems)
    problems.extend(table.missing(("sourcedId", "classSourcedId", "startTime", "endTime")))
    if problems:
        raise RosterError(problems)
    slots: list[Slot] = []
    seen: set[str] = set()
    for row in table.rows:
        slot = _slot(row, diary, problems)
        if slot is not None and slot.id in seen:
            problems.append(row.problem("sourcedId", f"duplicate sourcedId {slot.id!r}"))
        elif slot is not None:
            seen.add(slot.id)
            slots.append(slot)
    if problems:
        raise RosterError(problems)
    return Timetable(tuple(slots))


def _slot(row: Row, diary: Diary, problems: list[Problem]) -> Slot | None:
    before = len(problems)
    sid = read_required(row, "sourcedId", problems)
    class_id = read_required(row, "classSourcedId", problems)
    klass = diary.classes.get(SourcedId(class_id or ""))
    if class_id and klass is None:
        problems.append(row.problem("classSourcedId", f"no class {class_id!r} in classes.csv"))
    start, end = _time(row, "startTime", problems), _time(row, "endTime", problems)
    if start and end and end <= start:
        problems.append(row.problem("endTime", "the lesson ends before it starts"))
    day, weekday = _when(row, problems)
    distance = read_bool(row, "distance", False, problems)
    teacher = _teacher(row, diary, SourcedId(class_id or ""), problems)
    subject = (
        row.get("subject") or (klass.subject if klass else "") or (klass.title if klass else "")
    )
    if len(problems) > before or not (sid and class_id and start and end) or distance is None:
        return None
    return Slot(
        SourcedId(sid),
        SourcedId(class_id),
        start,
        end,
        subject,
        teacher,
        row.get("room"),
        distance,
        day,
        weekday,
    )


def _time(row: Row, column: str, problems: list[Problem]) -> time | None:
    value = read_required(row, column, problems)
    if value is None:
        return None
    try:
        return time.fromisoformat(value if len(value) != 4 else f"0{value}")
    except ValueError:
        problems.append(row.problem(column, f"malformed time {value!r}, expected HH:MM"))
        return None


def _when(row: Row, problems: list[Problem]) -> tuple[date | None, int | None]:
    day_text, weekday_text = row.get("date"), row.get("weekday")
    if bool(day_text) == bool(weekday_text):
        problems.append(row.problem("date", "give exactly one of date and weekday"))
        return None, None
    if day_text:
        try:
            return date.fromisoformat(day_text), None
        except ValueError:
            problems.append(
                row.problem("date", f"malformed date {day_text!r}, expected YYYY-MM-DD")
            )
            return None, None
    if weekday_text not in {"1", "2", "3", "4", "5", "6", "7"}:
        problems.append(row.problem("weekday", f"expected 1 (Monday) to 7, got {weekday_text!r}"))
        return None, None
    return None, int(weekday_text)


def _teacher(
    row: Row, diary: Diary, class_id: SourcedId, problems: list[Problem]
) -> SourcedId | None:
    given = row.get("teacherSourcedId")
    if given:
        person = diary.people.get(SourcedId(given))
        if person is None or not person.role.is_staff:
            problems.append(row.problem("teacherSourcedId", f"no teacher {given!r} in users.csv"))
            return None
        return SourcedId(given)
    primary = diary.class_teacher(class_id)
    teachers = sorted(
        p
        for p in diary.members_of(class_id, EnrollmentRole.TEACHER)
        if (person := diary.people.get(p)) is not None and person.role.is_staff
    )
    return primary or (teachers[0] if teachers else None)
