"""Links asked for and not yet finished (the diary's store, same database).

A link is two stores' work: the appservice makes the account and joins it, then the diary
records it (with the phone and password chosen in «Нет учётной записи»). The diary writes
the person's intent first; a diary that dies between the two finds the row at its next
start and finishes the link (the appservice's link is idempotent), so a person is linked
once or not at all, never half (:mod:`web_client.link_intent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from kernel.ids import SourcedId

_meta = sa.MetaData()
pending_links = sa.Table(
    "pending_links",
    _meta,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("phone", sa.String(32)),
    sa.Column("password_hash", sa.Text),
    sa.Column("asked_at", sa.DateTime, nullable=False),
    sa.Column("user_id", sa.String(255)),
)
"""Made by the diary store's migration 4; ``user_id`` (an account the person already had and
proved, «У меня есть учётная запись») by migration 5."""
PENDING_LINKS_V4 = sa.Table(
    "pending_links",
    sa.MetaData(),
    *(
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in pending_links.c
        if c.name != "user_id"
    ),
)
"""The table as migration 4 made it (frozen: migration 5 adds ``user_id``)."""
_accounts = sa.table(
    "accounts",
    sa.column("person_id"),
    sa.column("phone"),
    sa.column("password_hash"),
    sa.column("matrix_user_id"),
)


@dataclass(frozen=True)
class PendingLink:
    person_id: SourcedId
    phone: str | None
    password_hash: str | None
    asked_at: datetime
    user_id: str | None = None


def _held_by_another(db: Connection, phone: str, person: SourcedId) -> bool:
    holder = db.execute(sa.select(_accounts.c.person_id).where(_accounts.c.phone == phone)).first()
    return holder is not None and holder.person_id != person


class LinkStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def begin(
        self,
        person: SourcedId,
        phone: str | None,
        password_hash: str | None,
        now: datetime,
        user_id: str | None = None,
    ) -> None:
        """The person's intent (a newer ask replaces an older one)."""
        with self._engine.begin() as db:
            db.execute(sa.delete(pending_links).where(pending_links.c.person_id == person))
            db.execute(
                sa.insert(pending_links).values(
                    person_id=person,
                    phone=phone,
                    password_hash=password_hash,
                    asked_at=now,
                    user_id=user_id,
                )
            )

    def pending(self) -> list[PendingLink]:
        with self._engine.connect() as db:
            rows = db.execute(sa.select(pending_links).order_by(pending_links.c.asked_at)).all()
        return [
            PendingLink(SourcedId(r.person_id), r.phone, r.password_hash, r.asked_at, r.user_id)
            for r in rows
        ]

    def finish(self, person: SourcedId, user_id: str) -> None:
        """One transaction: the account, the phone and password asked for, the intent gone."""
        with self._engine.begin() as db:
            row = db.execute(
                sa.select(pending_links).where(pending_links.c.person_id == person)
            ).first()
            values: dict[str, str] = {"matrix_user_id": user_id}
            if row is not None and row.phone and not _held_by_another(db, row.phone, person):
                values["phone"] = row.phone  # (taken meanwhile: the link stands without it)
            if row is not None and row.password_hash:
                values["password_hash"] = row.password_hash
            db.execute(sa.update(_accounts).where(_accounts.c.person_id == person).values(values))
            db.execute(sa.delete(pending_links).where(pending_links.c.person_id == person))

    def drop(self, person: SourcedId) -> None:
        """A link the appservice refused: nothing of it stays."""
        with self._engine.begin() as db:
            db.execute(sa.delete(pending_links).where(pending_links.c.person_id == person))
