"""Who may be in a call and when: pure decisions, no I/O.

A call is named by what it belongs to, and the same name is its page's path:

- ``lesson/<slot@YYYY-MM-DD>`` — a distance lesson of the diary, held in the class chat,
  open from ``before`` ahead of its start until ``after`` past its end;
- ``room/<room id>`` — an ad-hoc call or a meeting in any chat, open while it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, unquote

from kernel.ids import RoomID

MODERATOR_POWER = 50
"""Teachers (60), class teachers (80) and the administration (95) of the sync, and anyone a
room's own moderators made a moderator: they may mute others and end the call."""


class Refused(Exception):
    """Not let in; ``reason`` is shown to the person as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallKind(StrEnum):
    LESSON = "lesson"
    ROOM = "room"


@dataclass(frozen=True)
class CallId:
    kind: CallKind
    key: str
    """The lesson id (``slot@date``) or the room id."""

    @classmethod
    def parse(cls, text: str) -> CallId:
        kind, _, key = unquote(text).strip("/").partition("/")
        if kind == CallKind.LESSON and "@" in key and "/" not in key:
            return cls(CallKind.LESSON, key)
        if kind == CallKind.ROOM and key.startswith("!") and len(key) > 1 and "/" not in key:
            return cls(CallKind.ROOM, key)
        raise Refused("такого звонка нет: неверная ссылка")

    @property
    def path(self) -> str:
        return f"{self.kind.value}/{quote(self.key, safe='@')}"

    @property
    def room(self) -> RoomID | None:
        return RoomID(self.key) if self.kind is CallKind.ROOM else None

    def __str__(self) -> str:
        return f"{self.kind.value}/{self.key}"


@dataclass(frozen=True)
class LessonWindow:
    starts_at: datetime
    ends_at: datetime
    before: timedelta = timedelta(minutes=10)
    after: timedelta = timedelta(minutes=15)

    @property
    def opens_at(self) -> datetime:
        return self.starts_at - self.before

    @property
    def closes_at(self) -> datetime:
        return self.ends_at + self.after

    def check(self, now: datetime) -> None:
        """Refuse outside the window, with the seed's words."""
        if now < self.opens_at:
            raise Refused(
                "Внимание! Урок еще не начался. Подключиться можно с "
                f"{self.opens_at:%H:%M} ({self.starts_at:%d.%m.%Y})"
            )
        if now > self.closes_at:
            raise Refused("Урок уже закончился")


def is_moderator(power: int) -> bool:
    return power >= MODERATOR_POWER


@dataclass(frozen=True)
class MemberView:
    """What the homeserver says of the person in the call's room."""

    membership: str | None
    power: int
    display_name: str | None


def admit_member(view: MemberView) -> bool:
    """Only joined members are let in; returns whether they moderate."""
    if view.membership != "join":
        raise Refused("Вы не участник этого чата, поэтому не можете войти в звонок")
    return is_moderator(view.power)
