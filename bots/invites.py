"""Teacher-made chats and their invite links (B7).

A member of staff writes ``!чат Кружок робототехники`` in any chat of the school's
bot; the bot makes the chat (not federating: it may hold students), brings the
teacher in as its moderator, and answers with a link to the diary's join page and
the same link as a QR code. ``!отозвать`` in the new chat revokes its links.

Links expire (``LINK_DAYS``); only a digest of each token is stored; a person joins
through the diary, signed in, and only with an account of this school's server.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
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


def chat_name(body: str) -> str | None:
    name = " ".join(body.strip()[len(CHAT_COMMAND) :].split())
    return name[:120] or None


@dataclass(frozen=True)
class Invite:
    room_id: str
    name: str
    created_by: str
    expires_at: datetime
    revoked: bool

    def refusal(self, now: datetime) -> str | None:
        """Why the link no longer opens the chat, or None."""
        if self.revoked:
            return "Эта ссылка отозвана: попросите у учителя новую"
        if now >= self.expires_at:
            return "Срок действия ссылки истёк: попросите у учителя новую"
        return None


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

    def add(self, token: str, invite: Invite) -> None:
        self._db.execute(
            "INSERT INTO invites VALUES (?, ?, ?, ?, ?, ?)",
            (
                digest(token),
                invite.room_id,
                invite.name,
                invite.created_by,
                invite.expires_at.isoformat(),
                int(invite.revoked),
            ),
        )

    def find(self, token: str) -> Invite | None:
        row = self._db.execute(
            "SELECT room_id, name, created_by, expires_at, revoked FROM invites WHERE digest = ?",
            (digest(token),),
        ).fetchone()
        if row is None:
            return None
        return Invite(row[0], row[1], row[2], datetime.fromisoformat(row[3]), bool(row[4]))

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
