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

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from alembic.operations import Operations

from kernel.db import Migration, create_missing, insert_new, open_store
from kernel.secrets import token_digest

CHAT_COMMAND = "!чат"
REVOKE_COMMAND = "!отозвать"
LINK_DAYS = 7
CHAT_POWER = 80
"""The teacher who made the chat moderates it (the bot keeps the room's top level)."""


def new_token() -> str:
    return secrets.token_urlsafe(18)


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


_meta = sa.MetaData()
invites = sa.Table(
    "invites",
    _meta,
    sa.Column("digest", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Text, nullable=False),
    sa.Column("revoked", sa.Integer, nullable=False, server_default="0"),
    sa.Column("audience", sa.Text, nullable=False, server_default="all"),
    sa.Column("origin_room", sa.Text, nullable=False, server_default=""),
)
made_chats = sa.Table(
    "made_chats",
    _meta,
    sa.Column("command_event", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
)


def _tables_v1(operations: Operations) -> None:
    """Links made before audiences existed lack two columns: they are for everybody."""
    create_missing(operations, invites, made_chats)
    have = {c["name"] for c in sa.inspect(operations.get_bind()).get_columns("invites")}
    for column, default in (("audience", "all"), ("origin_room", "")):
        if column not in have:
            added = sa.Column(column, sa.Text, nullable=False, server_default=default)
            operations.add_column("invites", added)


STORE = "bots.invites"
MIGRATIONS = (Migration(1, "invite links and made chats of parta 0.1", _tables_v1),)


class InviteBook:
    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    def add(self, token: str, invite: Invite) -> None:
        row = {
            "digest": token_digest(token),
            "room_id": invite.room_id,
            "name": invite.name,
            "created_by": invite.created_by,
            "expires_at": invite.expires_at.isoformat(),
            "revoked": int(invite.revoked),
            "audience": invite.audience.value,
            "origin_room": invite.origin_room,
        }
        with self._engine.begin() as db:
            db.execute(invites.insert().values(**row))

    def find(self, token: str) -> Invite | None:
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(invites).where(invites.c.digest == token_digest(token))
            ).first()
        if row is None:
            return None
        return Invite(
            row.room_id,
            row.name,
            row.created_by,
            datetime.fromisoformat(row.expires_at),
            bool(row.revoked),
            Audience(row.audience),
            row.origin_room,
        )

    def revoke_room(self, room_id: str) -> int:
        with self._engine.begin() as db:
            done = db.execute(
                invites.update()
                .where(invites.c.room_id == room_id, invites.c.revoked == 0)
                .values(revoked=1)
            )
        return int(done.rowcount)

    def made(self, command_event: str) -> str | None:
        """The chat a command already made (a retry makes no second chat)."""
        with self._engine.connect() as db:
            found = db.execute(
                sa.select(made_chats.c.room_id).where(made_chats.c.command_event == command_event)
            ).scalar()
        return None if found is None else str(found)

    def remember_made(self, command_event: str, room_id: str) -> None:
        with self._engine.begin() as db:
            insert_new(db, made_chats, {"command_event": command_event, "room_id": room_id})

    def close(self) -> None:
        self._engine.dispose()


def expiry(now: datetime) -> datetime:
    return now + timedelta(days=LINK_DAYS)
