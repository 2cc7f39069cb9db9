"""Lessons whenever needed (pure): what a teacher's «Назначить» and «Перенести» may set.

    form fields + now ─► when(...) ─► When(day, start, end) | Refusal (a Russian reason)
    When + class + teacher + kind ─► extra_slot(...) ─► a one-off Slot held online

A lesson or consultation set in the journal is a one-off slot (its own id, ``day`` set), so
the week, the join page, the bots' API and the call bridge treat it like any other lesson.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from appservice.diary_sync.timetable import Slot
from kernel.ids import SourcedId

LONGEST = timedelta(hours=4)
AHEAD = timedelta(days=366)
EXTRA_PREFIX = "extra-"


class Kind(StrEnum):
    LESSON = "lesson"
    CONSULTATION = "consultation"


@dataclass(frozen=True)
class When:
    day: date
    start: time
    end: time


@dataclass(frozen=True)
class Refusal:
    message: str


def when(day: str, start: str, end: str, now: datetime) -> When | Refusal:
    """The form's date and times, checked: a real time, in order, not over, not too long."""
    try:
        parsed = When(date.fromisoformat(day), time.fromisoformat(start), time.fromisoformat(end))
    except ValueError:
        return Refusal("Укажите дату, время начала и время окончания")
    starts = datetime.combine(parsed.day, parsed.start)
    ends = datetime.combine(parsed.day, parsed.end)
    if ends <= starts:
        return Refusal("Урок должен закончиться позже, чем начнётся")
    if ends - starts > LONGEST:
        return Refusal("Урок не может длиться дольше 4 часов")
    if ends <= now:
        return Refusal("Это время уже прошло")
    if starts > now + AHEAD:
        return Refusal("Урок можно назначить не больше чем на год вперёд")
    return parsed


def extra_slot(class_id: SourcedId, subject: str, teacher: SourcedId, kind: Kind, at: When) -> Slot:
    """A new one-off slot, held online (the class's chat gets the bot's message)."""
    title = subject if kind is Kind.LESSON else f"Консультация: {subject}"
    return Slot(
        SourcedId(f"{EXTRA_PREFIX}{secrets.token_hex(6)}"),
        class_id,
        at.start,
        at.end,
        title,
        teacher,
        distance=True,
        day=at.day,
    )
