"""Whose lessons are whose, the week view and the lesson window: pure, clock passed in.

    diary + timetable + distance lessons ─► lessons_of(person, week) ─► Day columns
    lesson + now ─► window_state: before (Урок еще не начался) | open | over

Times are the school's local wall-clock time, as the timetable states them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from appservice.diary_sync.timetable import Lesson, Timetable
from kernel.ids import SourcedId

OPENS_BEFORE = timedelta(minutes=10)
CLOSES_AFTER = timedelta(minutes=15)

WEEKDAYS = ("Понедельник", "Вторник", "Среда", "Четверг", "Пятница", "Суббота", "Воскресенье")
MONTHS = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]


class Window(StrEnum):
    BEFORE = "before"
    OPEN = "open"
    OVER = "over"


def window_state(lesson: Lesson, now: datetime) -> Window:
    if now < lesson.starts_at - OPENS_BEFORE:
        return Window.BEFORE
    if now > lesson.ends_at + CLOSES_AFTER:
        return Window.OVER
    return Window.OPEN


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def long_date(day: date) -> str:
    """«Понедельник, 28 ноября 2022 г.», as the seed's week view heads each day."""
    return f"{WEEKDAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]} {day.year} г."


@dataclass(frozen=True)
class Entry:
    number: int
    lesson: Lesson
    distance: bool


@dataclass(frozen=True)
class Day:
    day: date
    entries: tuple[Entry, ...]

    @property
    def title(self) -> str:
        return long_date(self.day)


def classes_of(diary: Diary, person: SourcedId) -> frozenset[SourcedId]:
    """The classes whose lessons ``person`` sits in (student) or teaches (staff)."""
    return frozenset(e.class_id for e in diary.enrollments if e.person_id == person)


def children_of(diary: Diary, parent: SourcedId) -> list[SourcedId]:
    return sorted(g.student_id for g in diary.guardianships if g.parent_id == parent)


def homeroom_of(diary: Diary, student: SourcedId) -> str:
    titles = sorted(
        diary.classes[e.class_id].title
        for e in diary.enrollments
        if e.person_id == student
        and e.class_id in diary.classes
        and diary.classes[e.class_id].kind is ClassKind.HOMEROOM
    )
    return titles[0] if titles else ""


def week(
    diary: Diary,
    timetable: Timetable,
    person: SourcedId,
    monday: date,
    distance_ids: Iterable[str],
) -> list[Day]:
    """Monday to Saturday (and Sunday if it has lessons) for ``person``.

    A student's lessons are their classes'; a member of staff's, those they teach.
    """
    role = diary.people[person].role
    mine = classes_of(diary, person)
    made_distance = set(distance_ids)
    days: dict[date, list[Lesson]] = {monday + timedelta(n): [] for n in range(7)}
    for lesson in timetable.lessons(monday, 7):
        taught = role.is_staff and lesson.slot.teacher_id == person
        if taught or (role is Role.STUDENT and lesson.slot.class_id in mine):
            days[lesson.day].append(lesson)
    return [
        Day(
            day,
            tuple(
                Entry(n, lesson, lesson.slot.distance or lesson.id in made_distance)
                for n, lesson in enumerate(lessons, start=1)
            ),
        )
        for day, lessons in days.items()
        if lessons or day.isoweekday() != 7  # Sunday only when something happens on it
    ]


def may_see_lesson(diary: Diary, person: SourcedId, lesson: Lesson) -> bool:
    """Its students, their parents, its teacher, the class's teachers and the administration."""
    who = diary.people.get(person)
    if who is None:
        return False
    if who.role is Role.ADMINISTRATOR or lesson.slot.teacher_id == person:
        return True
    class_id = lesson.slot.class_id
    if who.role is Role.PARENT:
        return any(class_id in classes_of(diary, child) for child in children_of(diary, person))
    return class_id in classes_of(diary, person)


@dataclass(frozen=True)
class JournalClass:
    class_id: SourcedId
    group: str
    subject: str


def journal_classes(diary: Diary, person: SourcedId) -> list[JournalClass]:
    """The class journals ``person`` may open: their own subject classes; all for the admin."""
    who = diary.people.get(person)
    if who is None or not who.role.is_staff:
        return []
    own = {
        e.class_id
        for e in diary.enrollments
        if e.person_id == person and e.role is EnrollmentRole.TEACHER
    }
    found = [
        JournalClass(c.id, _group(c.title, c.subject), c.subject or c.title)
        for c in diary.classes.values()
        if c.kind is ClassKind.SCHEDULED and (who.role is Role.ADMINISTRATOR or c.id in own)
    ]
    return sorted(found, key=lambda j: (_grade_key(j.group), j.group, j.subject))


def _group(title: str, subject: str) -> str:
    return title.removesuffix(subject).strip() if subject else title


def _grade_key(group: str) -> int:
    digits = "".join(c for c in group if c.isdigit())
    return int(digits) if digits else 0


def class_lessons(
    timetable: Timetable, class_id: SourcedId, first: date, days: int
) -> list[Lesson]:
    return [lesson for lesson in timetable.lessons(first, days) if lesson.slot.class_id == class_id]
