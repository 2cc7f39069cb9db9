"""The lesson bot's decisions (pure): which class-chat messages to post, edit or cancel.

Reconciliation, like the sync: the diary's distance lessons of the coming days are
the desired messages; what the bot posted is remembered; the plan closes the gap.

- a new lesson → one message in its class chat: «Дистанционный урок: Математика
  18:15–18:55 — Присоединиться» (the link opens the call page);
- ``remind`` before it starts → one reminder;
- moved (another day or time) → the message is edited in place (``m.replace``);
- no longer in the diary → the message is edited to say it is cancelled.

Idempotent: a plan of the state it produces is empty; transaction ids are derived
from the lesson and the text, so a crash between sending and remembering sends
nothing twice (the homeserver answers a repeated transaction with the same event).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip


def span(starts: datetime, ends: datetime) -> str:
    """«30 ноября, 18:15–18:55»: how the bots name a time."""
    return f"{starts.day} {MONTHS[starts.month - 1]}, {starts:%H:%M}–{ends:%H:%M}"


@dataclass(frozen=True)
class Lesson:
    lesson_id: str
    subject: str
    class_title: str
    starts_at: datetime
    ends_at: datetime
    room_alias: str
    call_url: str

    def when(self) -> str:
        return span(self.starts_at, self.ends_at)

    def text(self) -> str:
        return f"Дистанционный урок: {self.subject} {self.when()} — Присоединиться: {self.call_url}"

    def html(self) -> str:
        return (
            f"<b>Дистанционный урок: {escape(self.subject)}</b> {escape(self.when())} — "
            f'<a href="{escape(self.call_url)}">Присоединиться</a>'
        )


@dataclass(frozen=True)
class Posted:
    lesson_id: str
    room_id: str
    event_id: str
    text: str
    reminded: bool
    cancelled: bool


@dataclass(frozen=True)
class Post:
    lesson: Lesson


@dataclass(frozen=True)
class Edit:
    posted: Posted
    text: str
    html: str


@dataclass(frozen=True)
class Remind:
    posted: Posted
    lesson: Lesson


@dataclass(frozen=True)
class Cancel:
    posted: Posted


Action = Post | Edit | Remind | Cancel


def plan(
    lessons: list[Lesson],
    posted: dict[str, Posted],
    now: datetime,
    remind: timedelta,
    horizon: timedelta,
) -> list[Action]:
    """``lessons`` come from the diary for ``[now - 1 day, now + horizon)``."""
    actions: list[Action] = []
    seen = set()
    for lesson in sorted(lessons, key=lambda item: (item.starts_at, item.lesson_id)):
        seen.add(lesson.lesson_id)
        if lesson.ends_at < now:
            continue  # over: nothing to announce, nothing to change
        mine = posted.get(lesson.lesson_id)
        if mine is None:
            actions.append(Post(lesson))
            continue
        if mine.cancelled or mine.text != lesson.text():  # moved, or back in the diary
            actions.append(Edit(mine, lesson.text(), lesson.html()))
        if not mine.reminded and lesson.starts_at - remind <= now < lesson.ends_at:
            actions.append(Remind(mine, lesson))
    first, last = (now - timedelta(days=1)).date(), (now + horizon).date()
    for lesson_id, mine in sorted(posted.items()):
        day = lesson_id.rpartition("@")[2]
        in_window = first.isoformat() < day < last.isoformat()  # whole days fetched
        if lesson_id not in seen and in_window and not mine.cancelled:
            actions.append(Cancel(mine))
    return actions


def cancelled_text(posted: Posted) -> str:
    lead = posted.text.split(" — Присоединиться", 1)[0]
    return f"Отменён: {lead}"


def reminder_text(lesson: Lesson) -> str:
    return f"Скоро начнётся: {lesson.text()}"


def transaction(*parts: str) -> str:
    """The same request gets the same id: the homeserver sends it once."""
    return "parta-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
