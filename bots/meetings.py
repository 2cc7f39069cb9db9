"""Parents' meetings (D6), decided purely: the ``!собрание`` command and its messages.

A member of staff writes in the parents' chat the meeting is for — the school's
parents' chat (school-wide), a grade's (per grade) or a class's (per class)::

    !собрание 30.11 18:00 Итоги четверти
    !собрание 30.11.2026 18:00 60 Подготовка к экзаменам      (60 minutes; default 45)
    !собрание сейчас 30 Срочный вопрос                        (starts at once)

and the school's bot answers in that chat with the invitation and the join link (the
call of that chat), and reminds before the start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from bots.lesson_posts import span

COMMAND = "!собрание"
DEFAULT_MINUTES = 45
_PATTERN = re.compile(
    r"^!собрание\s+(?P<day>\d{1,2})\.(?P<month>\d{1,2})(?:\.(?P<year>\d{4}))?\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?:\s+(?P<minutes>\d{1,3}))?(?:\s+(?P<title>.+))?$",
    re.DOTALL,
)
_NOW_PATTERN = re.compile(
    r"^!собрание\s+сейчас(?:\s+(?P<minutes>\d{1,3}))?(?:\s+(?P<title>.+))?$", re.DOTALL
)
USAGE = (
    "Как назначить собрание: !собрание ДД.ММ ЧЧ:ММ [минут] [тема] или !собрание сейчас "
    "[минут] [тема], например: !собрание 30.11 18:00 Итоги четверти"
)


class CommandError(Exception):
    """Shown to the person who wrote the command, as it is."""


@dataclass(frozen=True)
class Meeting:
    title: str
    starts_at: datetime
    ends_at: datetime

    def when(self) -> str:
        return span(self.starts_at, self.ends_at)

    def text(self, url: str) -> str:
        return f"Родительское собрание: {self.title}, {self.when()} — Присоединиться: {url}"

    def html(self, url: str) -> str:
        return (
            f"<b>Родительское собрание: {escape(self.title)}</b>, {escape(self.when())} — "
            f'<a href="{escape(url)}">Присоединиться</a>'
        )


def parse(text: str, now: datetime) -> Meeting:
    """``now`` is the school's local time; the meeting must be ahead of it, or start now."""
    at_once = _NOW_PATTERN.match(text.strip())
    if at_once:
        return _meeting(now.replace(second=0, microsecond=0), at_once["minutes"], at_once["title"])
    found = _PATTERN.match(text.strip())
    if not found:
        raise CommandError(USAGE)
    year = int(found["year"] or now.year)
    try:
        starts = datetime(
            year, int(found["month"]), int(found["day"]), int(found["hour"]), int(found["minute"])
        )
    except ValueError as e:
        raise CommandError(f"Такой даты или времени нет. {USAGE}") from e
    if found["year"] is None and starts < now - timedelta(days=1):
        starts = starts.replace(year=year + 1)  # «30.01» written in December
    if starts < now:
        raise CommandError("Это время уже прошло: собрание можно назначить только на будущее")
    return _meeting(starts, found["minutes"], found["title"])


def _meeting(starts: datetime, minutes_text: str | None, title_text: str | None) -> Meeting:
    minutes = int(minutes_text or DEFAULT_MINUTES)
    if not 5 <= minutes <= 240:
        raise CommandError("Собрание может длиться от 5 до 240 минут")
    title = " ".join((title_text or "").split()) or "собрание"
    return Meeting(title[:200], starts, starts + timedelta(minutes=minutes))


def needs_reminder(meeting: Meeting, now: datetime, before: timedelta) -> bool:
    """A reminder ``before`` the start, unless the invitation comes that late already (a
    meeting now, or in a few minutes): then the invitation is the reminder."""
    return now < meeting.starts_at - before


def is_command(body: str) -> bool:
    return body.strip().startswith(COMMAND)
