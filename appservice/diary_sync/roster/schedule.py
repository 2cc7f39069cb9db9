"""The spreadsheet's «Расписание»: subject classes, their teachers, and the weekly slots.

    row «5А, понедельник, 08:30–09:15, Математика, Петрова А. С., каб. 21»
      ─► subject class «5А Математика» (once per class and subject): the homeroom's
         students, every teacher the rows name for it (the first is its primary)
      ─► weekly Slot ``tt-<subject class>-<weekday>-<HHMM>``

A class cannot have two lessons starting at the same time on the same day.
"""

from __future__ import annotations

import hashlib
from datetime import time
from typing import Protocol

from appservice.diary_sync import timetable as lessons  # a module: timetable imports roster
from appservice.diary_sync.model import ClassKind, EnrollmentRole, SchoolClass
from appservice.diary_sync.roster import sheets as S
from appservice.diary_sync.roster.cells import (
    Cell,
    SheetRow,
    read_choice,
    read_text,
    read_time,
)
from appservice.diary_sync.roster.errors import Problem
from kernel.ids import SourcedId


class Classes(Protocol):
    """What the timetable needs of the sheets read before it."""

    classes: dict[SourcedId, SchoolClass]

    def homeroom(self, cell: Cell) -> SchoolClass | None: ...

    def teacher(self, cell: Cell) -> SourcedId | None: ...

    def students_of(self, class_id: SourcedId) -> list[SourcedId]: ...

    def enroll(
        self, class_id: SourcedId, person: SourcedId, role: EnrollmentRole, primary: bool
    ) -> None: ...


def subject_class_id(homeroom: SourcedId, subject: str) -> SourcedId:
    digest = hashlib.blake2b(subject.lower().encode(), digest_size=4).hexdigest()
    return SourcedId(f"{homeroom}-{digest}")


def read_timetable_sheet(
    rows: list[SheetRow], school: Classes, problems: list[Problem]
) -> lessons.Timetable:
    slots: list[lessons.Slot] = []
    taken: dict[tuple[SourcedId, int, time], int] = {}
    teachers: dict[SourcedId, list[SourcedId]] = {}
    for row in rows:
        found = _slot(row, school, problems)
        if found is None:
            continue
        homeroom, slot = found
        key = (homeroom, slot.weekday or 0, slot.start)
        if key in taken:
            reason = f"в это время у класса уже урок (строка {taken[key]})"
            problems.append(row[S.START].problem(reason))
            continue
        taken[key] = row.line
        slots.append(slot)
        if slot.teacher_id is not None:
            named = teachers.setdefault(slot.class_id, [])
            if slot.teacher_id not in named:
                named.append(slot.teacher_id)
    _enroll(school, teachers)
    return lessons.Timetable(tuple(slots))


def _slot(
    row: SheetRow, school: Classes, problems: list[Problem]
) -> tuple[SourcedId, lessons.Slot] | None:
    """The row's slot and its homeroom; ``None`` when a cell is wrong (reported)."""
    before = len(problems)
    homeroom = school.homeroom(row[S.CLASS])
    day = read_choice(row[S.WEEKDAY], S.WEEKDAYS, problems)
    start, end = read_time(row[S.START], problems), read_time(row[S.END], problems)
    if start is not None and end is not None and end <= start:
        problems.append(row[S.END].problem("урок кончается раньше, чем начинается"))
    subject = read_text(row[S.SUBJECT], problems, required=True)
    teacher = school.teacher(row[S.TEACHER]) if row[S.TEACHER].text else None
    distance = bool(row[S.DISTANCE].text) and (
        read_choice(row[S.DISTANCE], (S.YES, S.NO), problems) == S.YES
    )
    if len(problems) > before or homeroom is None or day is None:
        return None
    if start is None or end is None:
        return None
    klass = _subject_class(school, homeroom, subject)
    weekday = S.WEEKDAYS.index(day) + 1
    sid = SourcedId(f"tt-{klass.id}-{weekday}-{start:%H%M}")
    room = row[S.ROOM].text
    return homeroom.id, lessons.Slot(
        sid, klass.id, start, end, subject, teacher, room, distance, None, weekday
    )


def _subject_class(school: Classes, homeroom: SchoolClass, subject: str) -> SchoolClass:
    cid = subject_class_id(homeroom.id, subject)
    klass = school.classes.get(cid)
    if klass is None:
        title = f"{homeroom.title} {subject}"
        klass = SchoolClass(
            cid, title, homeroom.school_id, ClassKind.SCHEDULED, homeroom.grade, subject
        )
        school.classes[cid] = klass
        for student in school.students_of(homeroom.id):
            school.enroll(cid, student, EnrollmentRole.STUDENT, False)
    return klass


def _enroll(school: Classes, teachers: dict[SourcedId, list[SourcedId]]) -> None:
    for class_id, named in teachers.items():
        for number, teacher in enumerate(named):
            school.enroll(class_id, teacher, EnrollmentRole.TEACHER, number == 0)
