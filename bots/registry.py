"""Commands written to the school's bot, and the features that answer them. Pure.

A feature registers its commands by their first word (``!чат``, ``!дз``…) and, if it
wants them, files sent in reply to a message; the dispatcher (:mod:`bots.listener`) hands
each event to the one feature that registered it::

    Feature
      ├─ commands: {"!чат": handler, "!отозвать": handler}   handler(Command) -> None
      └─ on_file(FileReply) -> None                            (homework handed in)

Every event carries the roster's role of its sender (the appservice adds it): features
decide who may command them by it, never by power in a room the sender may have made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kernel.contracts.policy import REPORT_TYPE
from kernel.matrix.replies import without_fallback

STAFF_ROLES = frozenset({"teacher", "administrator"})
FILE_TYPES = frozenset({"m.file", "m.image", "m.video", "m.audio"})


@dataclass(frozen=True)
class Command:
    event_id: str
    room_id: str
    sender: str
    body: str
    role: str | None = None
    """The sender's role in the roster (``None``: not one of the school's people)."""
    reply_to: str | None = None
    """The message this command answers (``!кто``), if any."""

    @classmethod
    def of(cls, event: Mapping[str, Any], role: str | None = None) -> Command | None:
        content = _object(event.get("content"))
        if event.get("type") != "m.room.message" or content.get("msgtype") != "m.text":
            return None
        fields = [event.get(k) for k in ("event_id", "room_id", "sender")] + [content.get("body")]
        if not all(isinstance(x, str) for x in fields):
            return None
        event_id, room_id, sender, body = (str(x) for x in fields)
        target = _reply_target(content)
        reply_to = target if isinstance(target, str) else None
        return cls(event_id, room_id, sender, without_fallback(body), role, reply_to)

    @property
    def word(self) -> str:
        return self.body.strip().split(" ", 1)[0]

    @property
    def by_staff(self) -> bool:
        return self.role in STAFF_ROLES


@dataclass(frozen=True)
class FileReply:
    """A file, photo or video sent in reply to a message (homework handed in)."""

    event_id: str
    room_id: str
    sender: str
    in_reply_to: str
    filename: str
    ts: int
    role: str | None = None

    @classmethod
    def of(cls, event: Mapping[str, Any], role: str | None = None) -> FileReply | None:
        content = _object(event.get("content"))
        target = _reply_target(content)
        if event.get("type") != "m.room.message" or _text(content.get("msgtype")) not in FILE_TYPES:
            return None
        fields = [event.get(k) for k in ("event_id", "room_id", "sender")] + [target]
        if not all(isinstance(x, str) for x in fields):
            return None
        event_id, room_id, sender, target_id = (str(x) for x in fields)
        name = str(content.get("filename") or content.get("body") or "файл")
        sent = event.get("origin_server_ts", 0)
        ts = sent if isinstance(sent, int) and not isinstance(sent, bool) else 0
        return cls(event_id, room_id, sender, target_id, name, ts, role)


@dataclass(frozen=True)
class Report:
    """A report of a message (Matrix's ``/report``, from any client), handed on by the
    homeserver's policy module through the appservice."""

    report_id: int
    room_id: str
    event_id: str
    reporter: str
    reason: str
    moderation_room: str | None
    role: str | None = None
    """The reporter's role in the roster."""

    @classmethod
    def of(
        cls, event: Mapping[str, Any], role: str | None, moderation_room: str | None
    ) -> Report | None:
        if event.get("type") != REPORT_TYPE:
            return None
        content = _object(event.get("content"))
        fields = [event.get("room_id"), content.get("event_id"), event.get("sender")]
        if not all(isinstance(x, str) for x in fields) or not isinstance(
            content.get("report_id"), int
        ):
            return None
        room_id, event_id, reporter = (str(x) for x in fields)
        reason = str(content.get("reason") or "")[:1000]
        return cls(content["report_id"], room_id, event_id, reporter, reason, moderation_room, role)


def _object(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one: any client may send any content."""
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _reply_target(content: Mapping[str, Any]) -> object:
    """``m.relates_to.m.in_reply_to.event_id``, whatever shape the client gave it."""
    return _object(_object(content.get("m.relates_to")).get("m.in_reply_to")).get("event_id")


CommandHandler = Callable[[Command], Awaitable[None]]
FileHandler = Callable[[FileReply], Awaitable[None]]
ReportHandler = Callable[[Report], Awaitable[None]]


@dataclass(frozen=True)
class Feature:
    """What one feature answers."""

    name: str
    commands: Mapping[str, CommandHandler] = field(default_factory=dict)
    on_file: FileHandler | None = None
    on_report: ReportHandler | None = None


@dataclass(frozen=True)
class Registry:
    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        words = [w for f in self.features for w in f.commands]
        twice = sorted({w for w in words if words.count(w) > 1})
        if twice:
            raise ValueError(f"commands registered twice: {twice}")

    @classmethod
    def of(cls, features: Iterable[Feature]) -> Registry:
        return cls(tuple(features))

    def handler(self, command: Command) -> CommandHandler | None:
        for feature in self.features:
            found = feature.commands.get(command.word)
            if found is not None:
                return found
        return None

    def file_handlers(self) -> list[FileHandler]:
        return [f.on_file for f in self.features if f.on_file is not None]

    def report_handlers(self) -> list[ReportHandler]:
        return [f.on_report for f in self.features if f.on_report is not None]
