"""Reports of messages (B6, E4), decided purely: what the moderators read, and their commands.

A report made in any client reaches the school's «Модерация» (the administration) as::

    Жалоба №7: Родитель-p1 Мария (родитель) в чате «5А — родители», 05.12 12:03
    Сообщение Учитель-t4 Анна: «…»
    Причина: грубость
    !удалить 7 — удалить сообщение · !предупредить 7 — предупредить автора в чате ·
    !заглушить 7 — запретить автору писать в чате · !исключить 7 — исключить автора из чата

and each command a moderator writes there acts on that report's message and is logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    REMOVE = "remove"
    WARN = "warn"
    MUTE = "mute"
    KICK = "kick"


COMMANDS = {
    "!удалить": Action.REMOVE,
    "!предупредить": Action.WARN,
    "!заглушить": Action.MUTE,
    "!исключить": Action.KICK,
}
ACTION_WORDS = {
    Action.REMOVE: "сообщение удалено",
    Action.WARN: "автор предупреждён",
    Action.MUTE: "автор больше не может писать в этом чате",
    Action.KICK: "автор исключён из чата",
}
ROLE_WORDS = {
    "student": "ученик",
    "parent": "родитель",
    "teacher": "учитель",
    "administrator": "администрация",
}
QUOTE = 300
_NUMBER = re.compile(r"^\S+\s+№?(\d{1,9})\s*$")


@dataclass(frozen=True)
class Reported:
    """What the moderators are shown of one report."""

    report_id: int
    reporter: str
    reporter_role: str | None
    room_name: str
    when: str
    author: str
    text: str
    reason: str

    def notice(self) -> str:
        role = ROLE_WORDS.get(self.reporter_role or "", "")
        who = f"{self.reporter} ({role})" if role else self.reporter
        quote = self.text if len(self.text) <= QUOTE else self.text[: QUOTE - 1] + "…"
        n = self.report_id
        lines = [
            f"Жалоба №{n}: {who} в чате «{self.room_name}», {self.when}",
            f"Сообщение {self.author}: «{quote}»",
            f"Причина: {self.reason or 'не указана'}",
            f"!удалить {n} — удалить сообщение · !предупредить {n} — предупредить автора в чате"
            f" · !заглушить {n} — запретить автору писать в чате"
            f" · !исключить {n} — исключить автора из чата",
        ]
        return "\n".join(lines)


def parse(body: str) -> tuple[Action, int] | None:
    """``!удалить 7`` (or ``№7``) → (remove, 7); anything else → None."""
    words = body.strip().split(maxsplit=1)
    action = COMMANDS.get(words[0]) if words else None
    found = _NUMBER.match(body.strip())
    if action is None or found is None:
        return None
    return action, int(found[1])


def muted(levels: Mapping[str, Any], author: str) -> dict[str, Any]:
    """The chat's power levels with the author below what sending a message needs."""
    events = levels.get("events")
    needed = events.get("m.room.message") if isinstance(events, dict) else None
    floor = needed if isinstance(needed, int) else levels.get("events_default", 0)
    users = dict(levels.get("users") or {})
    users[author] = min(-1, (floor if isinstance(floor, int) else 0) - 1)
    return {**levels, "users": users}


def usage(word: str) -> str:
    return f"Укажите номер жалобы, например: {word} 7"


def done(action: Action, report_id: int) -> str:
    return f"Жалоба №{report_id}: {ACTION_WORDS[action]}"


def warning(author: str) -> str:
    return (
        f"Администрация школы: сообщение {author} в этом чате нарушает правила школы. "
        "Пожалуйста, общайтесь уважительно."
    )
