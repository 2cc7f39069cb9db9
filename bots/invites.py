"""Teacher-made chats and their invite links (B7).

A member of staff writes ``!чат Кружок робототехники`` in any chat of the school's
bot; the bot makes the chat (not federating: it may hold students), brings the
teacher in as its moderator, and answers with a link to the diary's join page and
the same link as a QR code. ``!отозвать`` in the new chat revokes its links.
``!чат Совет родителей для родителей`` limits who the link lets in: students, parents,
teachers, or the people of the chat where it was asked for (``для класса``).

Links expire (``LINK_DAYS``); only a digest of each token is stored; a person joins
through the diary, signed in, and only with an account of this school's server.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

CHAT_COMMAND = "!чат"
REVOKE_COMMAND = "!отозвать"
LINK_DAYS = 7
CHAT_POWER = 80
"""The teacher who made the chat moderates it (the bot keeps the room's top level)."""


def new_token() -> str:
    return secrets.token_urlsafe(18)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Audience(StrEnum):
    """Who a link lets in (B7: «кто может вступить»), besides holding a school account."""

    ALL = "all"
    STUDENTS = "students"
    PARENTS = "parents"
    STAFF = "staff"
    CHAT = "chat"
    """The people of the chat where the teacher asked for the link (a class, say)."""


AUDIENCE_WORDS = {
    "для учеников": Audience.STUDENTS,
    "для родителей": Audience.PARENTS,
    "для учителей": Audience.STAFF,
    "для класса": Audience.CHAT,
    "для этого чата": Audience.CHAT,
    "для всех": Audience.ALL,
}
AUDIENCE_LABELS = {
    Audience.ALL: "для всех в школе",
    Audience.STUDENTS: "для учеников",
    Audience.PARENTS: "для родителей",
    Audience.STAFF: "для учителей",
    Audience.CHAT: "для участников чата, где её выдали",
}
ROLES = {
    Audience.STUDENTS: {"student"},
    Audience.PARENTS: {"parent"},
    Audience.STAFF: {"teacher", "administrator"},
}


def parse_chat(body: str) -> tuple[str, Audience] | None:
    """``!чат Название [для учеников|для родителей|для учителей|для класса|для всех]``."""
    text = " ".join(body.strip()[len(CHAT_COMMAND) :].split())
    audience = Audience.ALL
    for words, meant in AUDIENCE_WORDS.items():
        if text.lower().endswith(f" {words}") or text.lower() == words:
            text, audience = text[: -len(words)].strip(), meant
            break
    return (text[:120], audience) if text else None


def chat_name(body: str) -> str | None:
    parsed = parse_chat(body)
    return parsed[0] if parsed else None


@dataclass(frozen=True)
class Invite:
    room_id: str
    name: str
    created_by: str
    expires_at: datetime
    revoked: bool
    audience: Audience = Audience.ALL
    origin_room: str = ""

    def refusal(self, now: datetime) -> str | None:
        """Why the link no longer opens the chat, or None."""
        if self.revoked:
            return "Эта ссылка отозвана: попросите у учителя новую"
        if now >= self.expires_at:
            return "Срок действия ссылки истёк: попросите у учителя новую"
        return None

    def not_for(self, role: str | None, in_origin: bool) -> str | None:
        """Why this person is not in the link's audience, or None (``role`` from the diary)."""
        if self.audience is Audience.ALL:
            return None
        if self.audience is Audience.CHAT:
            return None if in_origin else f"Эта ссылка — {AUDIENCE_LABELS[self.audience]}"
        if role in ROLES[self.audience]:
            return None
        return f"Эта ссылка — {AUDIENCE_LABELS[self.audience]}"


class InviteBook:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS invites (digest TEXT PRIMARY KEY, room_id TEXT NOT NULL,"
            " name TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT NOT NULL,"
            " revoked INTEGER NOT NULL DEFAULT 0)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS made_chats (command_event TEXT PRIMARY KEY,"
            " room_id TEXT NOT NULL)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(invites)")}
        if "audience" not in columns:  # links made before audiences are for everybody
            self._db.execute("ALTER TABLE invites ADD COLUMN audience TEXT NOT NULL DEFAULT 'all'")
            self._db.execute("ALTER TABLE invites ADD COLUMN origin_room TEXT NOT NULL DEFAULT ''")

    def add(self, token: str, invite: Invite) -> None:
        self._db.execute(
            "INSERT INTO invites (digest, room_id, name, created_by, expires_at, revoked,"
            " audience, origin_room) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                digest(token),
                invite.room_id,
                invite.name,
                invite.created_by,
                invite.expires_at.isoformat(),
                int(invite.revoked),
                invite.audience.value,
                invite.origin_room,
            ),
        )

    def find(self, token: str) -> Invite | None:
        row = self._db.execute(
            "SELECT room_id, name, created_by, expires_at, revoked, audience, origin_room"
            " FROM invites WHERE digest = ?",
            (digest(token),),
        ).fetchone()
        if row is None:
            return None
        return Invite(
            row[0],
            row[1],
            row[2],
            datetime.fromisoformat(row[3]),
            bool(row[4]),
            Audience(row[5]),
            row[6],
        )

    def revoke_room(self, room_id: str) -> int:
        done = self._db.execute(
            "UPDATE invites SET revoked = 1 WHERE room_id = ? AND revoked = 0", (room_id,)
        )
        return done.rowcount

    def made(self, command_event: str) -> str | None:
        """The chat a command already made (a retry makes no second chat)."""
        row = self._db.execute(
            "SELECT room_id FROM made_chats WHERE command_event = ?", (command_event,)
        ).fetchone()
        return str(row[0]) if row else None

    def remember_made(self, command_event: str, room_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO made_chats VALUES (?, ?)", (command_event, room_id))


def expiry(now: datetime) -> datetime:
    return now + timedelta(days=LINK_DAYS)
