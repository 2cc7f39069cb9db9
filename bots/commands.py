"""Commands written to the school's bot in its chats.

Synapse refuses ``/sync`` to appservice users, so the bots read what the appservice
received and stored (``/_parta/v1/commands``, see :mod:`appservice.commands_api`).
Only what arrives after the bots first started is read; the cursor is saved after
each batch, and each command is remembered by its event id, so a restart neither
loses nor repeats one.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import segno
from nio import AsyncClient, RoomGetStateEventResponse, RoomSendResponse, UploadResponse

from bots.homework import (
    FILE_TYPES,
    LIST_COMMAND,
    SET_COMMAND,
    HandedIn,
    Homework,
    HomeworkBook,
    task_text,
)
from bots.homework import report as homework_report
from bots.invites import (
    AUDIENCE_LABELS,
    CHAT_COMMAND,
    CHAT_POWER,
    REVOKE_COMMAND,
    Audience,
    Invite,
    InviteBook,
    expiry,
    new_token,
    parse_chat,
)
from bots.lesson_posts import transaction
from bots.meetings import CommandError, Meeting, is_command, parse
from kernel.ids import server_of

log = logging.getLogger(__name__)


def qr_png(url: str) -> bytes:
    """The link as a QR code image (segno)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


STAFF_POWER = 50
"""Teachers (60), class teachers (80), the administration (95) of the sync."""
STAFF_ROLES = frozenset({"teacher", "administrator"})
"""Who may command the bot, by the roster's role the appservice gives with each event —
never by power alone: a student holds every power in a room she made herself."""


class CommandFailed(Exception):
    """A command the homeserver refused; ``transient`` ones are tried again next time."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.transient = status >= 500 or status == 429


class MeetingBook:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS meetings (command_event TEXT PRIMARY KEY,"
            " room_id TEXT NOT NULL, title TEXT NOT NULL, starts_at TEXT NOT NULL,"
            " ends_at TEXT NOT NULL, url TEXT NOT NULL, reminded INTEGER NOT NULL DEFAULT 0)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS sync (id INTEGER PRIMARY KEY, token TEXT)")

    def token(self) -> str | None:
        row = self._db.execute("SELECT token FROM sync WHERE id = 1").fetchone()
        return str(row[0]) if row else None

    def save_token(self, token: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO sync VALUES (1, ?)", (token,))

    def seen(self, command_event: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM meetings WHERE command_event = ?", (command_event,)
        ).fetchone()
        return found is not None

    def add(self, command_event: str, room: str, meeting: Meeting, url: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO meetings VALUES (?, ?, ?, ?, ?, ?, 0)",
            (
                command_event,
                room,
                meeting.title,
                meeting.starts_at.isoformat(),
                meeting.ends_at.isoformat(),
                url,
            ),
        )

    def due(self, now: datetime, before: timedelta) -> list[tuple[str, str, Meeting, str]]:
        rows = self._db.execute(
            "SELECT command_event, room_id, title, starts_at, ends_at, url FROM meetings"
            " WHERE reminded = 0"
        ).fetchall()
        found = []
        for event, room, title, starts, ends, url in rows:
            meeting = Meeting(title, datetime.fromisoformat(starts), datetime.fromisoformat(ends))
            if meeting.starts_at - before <= now < meeting.ends_at:
                found.append((str(event), str(room), meeting, str(url)))
        return found

    def reminded(self, command_event: str) -> None:
        self._db.execute(
            "UPDATE meetings SET reminded = 1 WHERE command_event = ?", (command_event,)
        )


@dataclass(frozen=True)
class Command:
    event_id: str
    room_id: str
    sender: str
    body: str
    role: str | None = None
    """The sender's role in the roster (``None``: not one of the school's people)."""

    @classmethod
    def of(cls, event: dict[str, Any], role: str | None = None) -> Command | None:
        content = event.get("content", {})
        if event.get("type") != "m.room.message" or content.get("msgtype") != "m.text":
            return None
        fields = [event.get(k) for k in ("event_id", "room_id", "sender")] + [content.get("body")]
        if not all(isinstance(x, str) for x in fields):
            return None
        event_id, room_id, sender, body = (str(x) for x in fields)
        return cls(event_id, room_id, sender, body, role)

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
    def of(cls, event: dict[str, Any], role: str | None = None) -> FileReply | None:
        content = event.get("content", {})
        target = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        if event.get("type") != "m.room.message" or content.get("msgtype") not in FILE_TYPES:
            return None
        fields = [event.get(k) for k in ("event_id", "room_id", "sender")] + [target]
        if not all(isinstance(x, str) for x in fields):
            return None
        event_id, room_id, sender, target_id = (str(x) for x in fields)
        name = str(content.get("filename") or content.get("body") or "файл")
        ts = int(event.get("origin_server_ts", 0))
        return cls(event_id, room_id, sender, target_id, name, ts, role)


class Commands:
    def __init__(
        self,
        matrix: AsyncClient,
        book: MeetingBook,
        bridge_url: str,
        now: Callable[[], datetime],
        remind: timedelta,
        appservice: tuple[str, str],
        invites: InviteBook,
        diary_url: str,
        homework: HomeworkBook,
    ) -> None:
        self._homework = homework
        self._matrix, self._book, self._bridge = matrix, book, bridge_url.rstrip("/")
        self._appservice, self._token = appservice
        self._invites, self._diary = invites, diary_url.rstrip("/")
        self._now, self._remind = now, remind

    async def once(self) -> int:
        """Read new commands from the appservice; returns how many it handled."""
        since = self._book.token()
        if since is None:  # first start: no history, only what comes from now on
            self._book.save_token(str(int(time.time() * 1000)))
            return 0
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.get(
                f"{self._appservice}/_parta/v1/commands",
                params={"since": since},
                headers={"Authorization": f"Bearer {self._token}"},
            )
        if answer.status_code != 200:
            raise RuntimeError(f"commands: {answer.status_code} {answer.text[:200]}")
        body = answer.json()
        handled = 0
        for item in body.get("events", []):
            try:
                handled += await self._handle(item["event"], item.get("sender_role"))
            except CommandFailed as e:
                if e.transient:
                    raise  # the cursor stays: the whole batch is read again
                log.warning("command %s dropped: %s", item["event"].get("event_id"), e)
        self._book.save_token(str(body.get("next", since)))
        return handled

    async def _handle(self, event: dict[str, Any], role: str | None) -> int:
        handed = FileReply.of(event, role)
        if handed is not None:
            await self._hand_in(handed)
            return 0
        command = Command.of(event, role)
        if command is None or command.sender == self._matrix.user_id:
            return 0
        word = command.body.strip().split(" ", 1)[0]
        if is_command(command.body) and not self._book.seen(command.event_id):
            await self._meeting(command.room_id, command)
        elif word == CHAT_COMMAND:
            if self._invites.made(command.event_id) is None:
                await self._chat(command)
        elif command.body.strip() == REVOKE_COMMAND:
            await self._revoke(command)
        elif word == SET_COMMAND:
            if not self._homework.was_set(command.event_id):
                await self._set_homework(command)
        elif command.body.strip() == LIST_COMMAND:
            await self._list_homework(command)
        else:
            return 0
        return 1

    async def reminders(self) -> None:
        for event, room, meeting, url in self._book.due(self._now(), self._remind):
            content = {"msgtype": "m.notice", "body": f"Скоро начнётся: {meeting.text(url)}"}
            await self._send(room, content, transaction("meeting-remind", event))
            self._book.reminded(event)

    async def _staff_here(self, event: Command) -> bool:
        """A member of the school's staff by the roster, with a teacher's power in this room."""
        return event.by_staff and await self._power(event.room_id, event.sender) >= STAFF_POWER

    async def _meeting(self, room: str, event: Command) -> None:
        if not await self._staff_here(event):
            await self._reply(room, event, "Назначать собрания могут учителя и администрация школы")
            return
        try:
            meeting = parse(event.body, self._now())
        except CommandError as e:
            await self._reply(room, event, str(e))
            return
        await self.post_meeting(room, meeting, event.event_id)

    async def post_meeting(self, room: str, meeting: Meeting, key: str) -> str:
        """The invitation with the join link, posted in ``room`` once per ``key`` (a command's
        event, or the diary's request); reminded before the start. Returns the call's URL."""
        url = f"{self._bridge}/room/{quote(room, safe='!:')}"
        if self._book.seen(key):
            return url
        content = {
            "msgtype": "m.text",
            "body": meeting.text(url),
            "format": "org.matrix.custom.html",
            "formatted_body": meeting.html(url),
            "org.parta.meeting": {
                "starts_at": meeting.starts_at.isoformat(),
                "ends_at": meeting.ends_at.isoformat(),
                "call_url": url,
            },
        }
        await self._send(room, content, transaction("meeting", key))
        self._book.add(key, room, meeting, url)
        return url

    async def may_call_meeting(self, room: str, organiser: str) -> bool:
        return await self._power(room, organiser) >= STAFF_POWER

    async def resolve(self, alias: str) -> str | None:
        try:
            found = await self._as("GET", f"/directory/room/{quote(alias, safe='')}", {})
        except CommandFailed:
            return None
        return str(found["room_id"])

    async def meeting_room(self, key: str, organiser: str, parent: str, title: str) -> str:
        """A one-to-one meeting's own room: the organiser (moderating) and the parent, with
        the bot; made once per ``key``. Accounts of this school are joined at once, others
        find an invitation."""
        room = self._invites.made(key)
        if room is None:
            local = all(
                server_of(u) == server_of(self._matrix.user_id) for u in (organiser, parent)
            )
            made = await self._as(
                "POST",
                "/createRoom",
                {
                    "name": f"Встреча: {title}"[:120],
                    "room_version": "12",
                    "preset": "private_chat",
                    "creation_content": {"m.federate": not local},
                    "invite": [organiser, parent],
                    "power_level_content_override": {"users": {organiser: CHAT_POWER}},
                },
            )
            room = str(made["room_id"])
            self._invites.remember_made(key, room)
        for user in (organiser, parent):
            if server_of(user) == server_of(self._matrix.user_id):
                try:
                    await self._as("POST", f"/join/{quote(room, safe='')}", {}, as_user=user)
                except CommandFailed as e:  # not one of the school's accounts: the invite stays
                    log.info("meeting room %s: %s stays invited (%s)", room, user, e)
        return room

    async def _chat(self, event: Command) -> None:
        """``!чат Название``: a new chat, its teacher in it, a link and its QR code.
        Staff only, by the roster: a link lets people in on the teacher's word."""
        if not event.by_staff:
            await self._reply(event.room_id, event, "Создавать чаты могут учителя и администрация")
            return
        parsed = parse_chat(event.body)
        if parsed is None:
            await self._reply(
                event.room_id,
                event,
                "Как создать чат: !чат Название чата [для учеников | для родителей | "
                "для учителей | для класса]",
            )
            return
        name, audience = parsed
        made = await self._as(
            "POST",
            "/createRoom",
            {
                "name": name,
                "room_version": "12",  # its creator (the bot) is not listed in power levels
                "preset": "private_chat",
                "creation_content": {"m.federate": False},  # it may hold students
                "invite": [event.sender],
                "power_level_content_override": {"users": {event.sender: CHAT_POWER}},
                "initial_state": [
                    {
                        "type": "m.room.history_visibility",
                        "state_key": "",
                        "content": {"history_visibility": "shared"},
                    }
                ],
            },
        )
        room = str(made["room_id"])
        self._invites.remember_made(event.event_id, room)
        await self._as("POST", f"/join/{quote(room, safe='')}", {}, as_user=event.sender)
        token, expires = new_token(), expiry(self._now())
        invite = Invite(room, name, event.sender, expires, False, audience, event.room_id)
        self._invites.add(token, invite)
        url = f"{self._diary}/join/{token}"
        whom = "" if audience is Audience.ALL else f" {AUDIENCE_LABELS[audience]}"
        text = (
            f"Чат «{name}» создан. Ссылка для вступления{whom} "
            f"(действует до {expires:%d.%m.%Y}): {url}"
        )
        await self._reply(event.room_id, event, text)
        png = qr_png(url)
        uploaded, _keys = await self._matrix.upload(
            io.BytesIO(png), content_type="image/png", filename="qr.png", filesize=len(png)
        )
        if isinstance(uploaded, UploadResponse):
            content = {
                "msgtype": "m.image",
                "body": f"QR-код для вступления в чат «{name}»",
                "url": uploaded.content_uri,
                "info": {"mimetype": "image/png", "size": len(png)},
            }
            await self._send(event.room_id, content, transaction("qr", event.event_id))

    async def _set_homework(self, event: Command) -> None:
        if not await self._staff_here(event):
            await self._reply(event.room_id, event, "Задавать домашние задания могут учителя")
            return
        text = task_text(event.body)
        if text is None:
            await self._reply(event.room_id, event, "Как задать: !дз текст задания")
            return
        content = {
            "msgtype": "m.text",
            "body": f"Домашнее задание: {text}\nЧтобы сдать, ответьте на это сообщение файлом.",
            "org.parta.homework": {"set_by": event.sender},
        }
        posted = await self._send(event.room_id, content, transaction("homework", event.event_id))
        homework = Homework(posted, event.room_id, text, event.sender, int(time.time() * 1000))
        self._homework.set(homework, event.event_id)

    async def _hand_in(self, reply: FileReply) -> None:
        homework = self._homework.get(reply.in_reply_to)
        if homework is None or reply.role in STAFF_ROLES:
            return  # not an answer to homework, or not a student's
        self._homework.hand_in(
            homework.event_id, HandedIn(reply.sender, reply.event_id, reply.filename, reply.ts)
        )

    async def _list_homework(self, event: Command) -> None:
        if not await self._staff_here(event):
            return
        given = self._homework.of_room(event.room_id)
        if not given:
            await self._reply(event.room_id, event, "В этом чате ещё не задавали домашних заданий")
            return
        latest = given[-1]
        students = await self._students(event.room_id)
        text = homework_report(latest, self._homework.handed_in(latest.event_id), students)
        await self._reply(event.room_id, event, text)

    async def _students(self, room: str) -> dict[str, str]:
        """Members below staff level (the bot aside), by display name."""
        members = await self._as("GET", f"/rooms/{quote(room, safe='')}/joined_members", {})
        levels = await self._levels(room)  # once, not once per member
        return {
            user: str((profile or {}).get("display_name") or user)
            for user, profile in members.get("joined", {}).items()
            if user != self._matrix.user_id and _power_of(levels, user) < STAFF_POWER
        }

    async def _revoke(self, event: Command) -> None:
        if not await self._staff_here(event):
            await self._reply(event.room_id, event, "Отзывать ссылки могут учителя и администрация")
            return
        count = self._invites.revoke_room(event.room_id)
        await self._reply(event.room_id, event, f"Ссылки на этот чат отозваны: {count}")

    async def _as(
        self, method: str, path: str, body: dict[str, Any], as_user: str | None = None
    ) -> dict[str, Any]:
        """A client-server request as the bot, or as one of the school's people."""
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.request(
                method,
                f"{self._matrix.homeserver}/_matrix/client/v3{path}",
                json=body,
                params={"user_id": as_user} if as_user else None,
                headers={"Authorization": f"Bearer {self._matrix.access_token}"},
            )
        if answer.status_code != 200:
            raise CommandFailed(
                f"{method} {path}: {answer.status_code} {answer.text[:200]}", answer.status_code
            )
        found: dict[str, Any] = answer.json()
        return found

    async def _reply(self, room: str, event: Command, text: str) -> None:
        content = {
            "msgtype": "m.notice",
            "body": text,
            "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
        }
        await self._send(room, content, transaction("reply", event.event_id))

    async def _levels(self, room: str) -> dict[str, Any]:
        found = await self._matrix.room_get_state_event(room, "m.room.power_levels")
        return found.content if isinstance(found, RoomGetStateEventResponse) else {}

    async def _power(self, room: str, user: str) -> int:
        return _power_of(await self._levels(room), user)

    async def _send(self, room: str, content: dict[str, Any], txn: str) -> str:
        sent = await self._matrix.room_send(room, "m.room.message", content, tx_id=txn)
        if not isinstance(sent, RoomSendResponse):
            raise CommandFailed(f"could not post in {room}: {sent}", _status_of(sent))
        return str(sent.event_id)


def _power_of(levels: dict[str, Any], user: str) -> int:
    power = levels.get("users", {}).get(user, levels.get("users_default", 0))
    return power if isinstance(power, int) else 0


def _status_of(error: object) -> int:
    """An HTTP-like status for a matrix-nio error (it keeps the errcode, not the status):
    rate limits and unknown failures are worth another try, a refusal is not."""
    errcode = str(getattr(error, "status_code", "") or "")
    if errcode == "M_LIMIT_EXCEEDED":
        return 429
    return 403 if errcode.startswith("M_") and errcode != "M_UNKNOWN" else 500
