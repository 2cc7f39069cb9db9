"""«Присутствие» and «Домашнее задание» on a lesson (D1, E3, C2): who of the class came, for
how long, and who handed in the day's homework. Pure.

The call bridge counts each person's time in the call (overlapping stays once); the diary
names them, lists the class's students who did not come, and writes the same as CSV for the
school's records (semicolons and a BOM: what a Russian spreadsheet opens as it is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from appservice.diary_sync.model import Person
from kernel.contracts.bots import HomeworkList
from kernel.contracts.bridge import Presence
from kernel.ids import SourcedId


@dataclass(frozen=True)
class Row:
    name: str
    minutes: int
    came: str
    left: str

    @property
    def present(self) -> bool:
        return bool(self.came)


def rows(
    students: Iterable[Person],
    accounts: Mapping[SourcedId, str],
    presence: Iterable[Presence],
    zone: tzinfo,
) -> list[Row]:
    """Each student of the class, by name: time in the call, first came, last left
    ("" for one who never came); ``accounts`` maps a student's id to her Matrix id."""
    by_user = {p.user_id: p for p in presence}

    def clock(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%H:%M")

    found = []
    for person in students:
        seen = by_user.get(accounts.get(person.id, ""))
        if seen is None or seen.seconds <= 0:
            found.append(Row(person.display_name, 0, "", ""))
        else:
            minutes = max(1, round(seen.seconds / 60))
            found.append(
                Row(person.display_name, minutes, clock(seen.first_joined), clock(seen.last_left))
            )
    return sorted(found, key=lambda r: (not r.present, r.name))


def csv_text(lesson: str, found: Iterable[Row]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Урок", "Ученик", "Был на уроке", "Минут", "Пришёл", "Ушёл"])
    for r in found:
        writer.writerow([lesson, r.name, "да" if r.present else "нет", r.minutes, r.came, r.left])
    return out.getvalue()


@dataclass(frozen=True)
class Task:
    text: str
    set_at: str
    handed_in: list[tuple[str, str, str]]
    """(student, file, when)"""
    missing: list[str]


@dataclass(frozen=True)
class Homework:
    room_id: str
    tasks: list[Task]


def homework_of(
    found: HomeworkList,
    day: date,
    teacher: str | None,
    names: Mapping[str, str],
    students: list[str],
    zone: tzinfo,
) -> Homework:
    """The tasks the lesson's teacher set in the class chat on the lesson's day (every
    teacher's when the teacher has no account), each with who handed in and who not."""

    def local(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, zone)

    tasks = []
    for task in found.homework:
        if local(task.set_at).date() != day or (teacher and task.set_by != teacher):
            continue
        handed = [
            (names.get(h.student, h.student), h.file, local(h.at).strftime("%d.%m %H:%M"))
            for h in sorted(task.handed_in, key=lambda h: h.at)
        ]
        done = {who for who, _, _ in handed}
        tasks.append(
            Task(
                task.text,
                local(task.set_at).strftime("%H:%M"),
                handed,
                [s for s in students if s not in done],
            )
        )
    return Homework(found.room_id, tasks)


def homework_csv(lesson: str, homework: Homework) -> str:
    """Who handed in what, one row per student and task (Excel: BOM and semicolons)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Урок", "Задание", "Ученик", "Сдано", "Файл", "Когда"])
    for task in homework.tasks:
        for who, file, at in task.handed_in:
            writer.writerow([lesson, task.text, who, "да", file, at])
        for who in task.missing:
            writer.writerow([lesson, task.text, who, "нет", "", ""])
    return out.getvalue()


@dataclass(frozen=True)
class OwnTask:
    """A task as the student (or her parent) sees it: hers handed in or not."""

    text: str
    file: str | None
    at: str


def own_homework(
    found: HomeworkList, day: date, teacher: str | None, student: str | None, zone: tzinfo
) -> list[OwnTask]:
    """The tasks the lesson's teacher set in the class chat on the lesson's day, each with the
    student's own hand-in (nobody else's: a parent sees her child's only)."""
    out = []
    for task in found.homework:
        set_at = datetime.fromtimestamp(task.set_at / 1000, zone)
        if set_at.date() != day or (teacher and task.set_by != teacher):
            continue
        mine = [h for h in task.handed_in if student and h.student == student]
        last = max(mine, key=lambda h: h.at) if mine else None
        when = (
            ""
            if last is None
            else datetime.fromtimestamp(last.at / 1000, zone).strftime("%d.%m %H:%M")
        )
        out.append(OwnTask(task.text, None if last is None else last.file, when))
    return out
