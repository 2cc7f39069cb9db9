"""The appservice's state store: SQLite by default, PostgreSQL by configuration.

One SQLAlchemy Core schema serves both (``sqlite:///path`` or
``postgresql+psycopg://...``). It holds what Synapse cannot tell us cheaply:
which room each alias key became, who each diary person is in Matrix, which
puppets exist with which name, who may join each managed room (read by the
school policy module), the last applied diary (for delta imports), and every
transaction and event received, stored before the homeserver hears 200.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from appservice.diary_sync.layout import RoomKey
from appservice.diary_sync.state import Account
from kernel.contracts.policy import REPORT_TYPE
from kernel.db import Migration, create_missing, open_store
from kernel.ids import RoomID, SourcedId, UserID
from kernel.matrix.replies import without_fallback

_meta = sa.MetaData()

rooms = sa.Table(
    "rooms",
    _meta,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("room_id", sa.String(255), nullable=False, unique=True),
)
allowed = sa.Table(
    "allowed_members",
    _meta,
    sa.Column("room_key", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(255), primary_key=True),
)
invites = sa.Table(
    "invites",
    _meta,
    sa.Column("room_key", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(255), primary_key=True),
)
accounts = sa.Table(
    "accounts",
    _meta,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(255), nullable=False, unique=True),
    sa.Column("puppet", sa.Boolean, nullable=False),
    sa.Column("linked", sa.Boolean, nullable=False),
)
puppets = sa.Table(
    "puppets",
    _meta,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
)
transactions = sa.Table(
    "transactions",
    _meta,
    sa.Column("txn_key", sa.String(255), primary_key=True),
    sa.Column("txn_id", sa.String(255), nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
)
events = sa.Table(
    "events",
    _meta,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("txn_key", sa.String(255), nullable=False),
    sa.Column("room_id", sa.String(255), nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("sender", sa.String(255), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)
receipts = sa.Table(
    "receipts",
    _meta,
    sa.Column("room_id", sa.String(255), primary_key=True),
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
)
"""Each person's latest read receipt per room, from the transactions' ephemeral events."""
rejected = sa.Table(
    "rejected_events",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("txn_key", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)
departures = sa.Table(
    "departures",
    _meta,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("left_ms", sa.BigInteger, nullable=False),
    sa.Column("deactivated_ms", sa.BigInteger, nullable=True),
    sa.Column("erased_ms", sa.BigInteger, nullable=True),
    sa.Column("erased_media", sa.Integer, nullable=True),
)
"""Puppets of people who left the roster: noted by the sync that saw them go (before it
saves the new diary, so a crash cannot forget them), deactivated by its plan, erased
(profile, media) after the school's period; the row is the record of what was done."""
snapshots = sa.Table(
    "snapshots",
    _meta,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)

generations = sa.Table(
    "generations",
    _meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
"""``people`` moves with the diary snapshot and the accounts, ``diary`` with the snapshot
only: readers cache what they derive from each (parsing a snapshot costs far more than
re-reading the accounts)."""


STORE = "appservice"
MIGRATIONS = (
    Migration(
        1,
        "the tables of parta 0.1 (made before versions: adopted as they are)",
        lambda operations: create_missing(operations, *_meta.sorted_tables),
    ),
    Migration(2, "read receipts («Кто прочитал»)", lambda op: create_missing(op, receipts)),
    Migration(3, "people who left the school", lambda op: create_missing(op, departures)),
)
"""Migration 1 creates the tables as defined above. When a later migration changes one,
first give migration 1 a frozen copy of that table as it was (see :mod:`kernel.db`)."""


def _bump(c: Connection, *names: str) -> None:
    for name in names:
        updated = c.execute(
            generations.update()
            .where(generations.c.name == name)
            .values(value=generations.c.value + 1)
        )
        if updated.rowcount == 0:
            c.execute(generations.insert().values(name=name, value=1))


@dataclass(frozen=True)
class Departure:
    user_id: UserID
    display_name: str
    left_ms: int
    deactivated_ms: int | None = None
    erased_ms: int | None = None
    erased_media: int | None = None


@dataclass(frozen=True)
class JoinDecision:
    managed: bool
    allowed: bool


@dataclass(frozen=True)
class ReceivedEvent:
    event_id: str
    room_id: str
    type: str
    sender: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class TransactionOutcome:
    new: bool
    stored: tuple[ReceivedEvent, ...]
    rejected: int


_FILE_TYPES = frozenset({"m.file", "m.image", "m.video", "m.audio"})


def _txn_key(txn_id: str, raw_events: Sequence[object]) -> str:
    """Transaction ids restart at 1 with a fresh homeserver database: key by content too."""
    ids = sorted(str(e.get("event_id", "")) for e in raw_events if isinstance(e, dict))
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return f"{txn_id}/{digest}"


class Store:
    def __init__(self, engine: Engine, now_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._now_ms = now_ms

    @property
    def engine(self) -> Engine:
        return self._engine

    @classmethod
    def open(cls, url: str, now_ms: Callable[[], int]) -> Store:
        """Opened and brought up to the newest schema (:mod:`kernel.db`)."""
        return cls(open_store(url, STORE, MIGRATIONS), now_ms)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    # -- rooms ------------------------------------------------------------------------------

    def room_ids(self) -> dict[RoomKey, RoomID]:
        with self._engine.connect() as c:
            return {
                RoomKey(k): RoomID(r) for k, r in c.execute(sa.select(rooms.c.key, rooms.c.room_id))
            }

    def save_room(self, key: RoomKey, room_id: RoomID) -> None:
        with self._engine.begin() as c:
            c.execute(rooms.delete().where(rooms.c.key == key))
            c.execute(rooms.insert().values(key=key, room_id=room_id))

    def move_room(self, old: RoomKey, new: RoomKey) -> None:
        """Last year's room answers to this year's key (its invites and who may join too)."""
        with self._engine.begin() as c:
            found = c.scalar(sa.select(rooms.c.room_id).where(rooms.c.key == old))
            if found is None:
                return
            c.execute(rooms.delete().where(rooms.c.key.in_([old, new])))
            c.execute(rooms.insert().values(key=new, room_id=found))
            # who may join was set for the new key by this run; pending invites move with it
            c.execute(allowed.delete().where(allowed.c.room_key == old))
            pending = [
                u
                for (u,) in c.execute(sa.select(invites.c.user_id).where(invites.c.room_key == old))
            ]
            if pending:
                c.execute(
                    invites.delete().where(
                        invites.c.room_key == new, invites.c.user_id.in_(pending)
                    )
                )
                c.execute(invites.update().where(invites.c.room_key == old).values(room_key=new))

    def set_allowed(self, members: Mapping[RoomKey, frozenset[UserID]]) -> None:
        """Set who may join each of these rooms, in one transaction, writing only changes."""
        with self._engine.begin() as c:
            current: dict[str, set[str]] = {}
            query = sa.select(allowed.c.room_key, allowed.c.user_id)
            if len(members) < 50:  # linking one person: a few rooms, not the whole school
                query = query.where(allowed.c.room_key.in_(sorted(members)))
            for key, user in c.execute(query):
                current.setdefault(key, set()).add(user)
            for key, users in members.items():
                have = current.get(key, set())
                gone = have - set(users)
                if gone:
                    c.execute(
                        allowed.delete().where(
                            allowed.c.room_key == key, allowed.c.user_id.in_(sorted(gone))
                        )
                    )
                rows = [{"room_key": key, "user_id": u} for u in sorted(set(users) - have)]
                if rows:
                    c.execute(allowed.insert(), rows)

    def may_join(self, room_id: RoomID, user_id: UserID) -> JoinDecision:
        with self._engine.connect() as c:
            key = c.execute(sa.select(rooms.c.key).where(rooms.c.room_id == room_id)).scalar()
            if key is None:
                return JoinDecision(managed=False, allowed=True)
            hit = c.execute(
                sa.select(allowed.c.user_id).where(
                    allowed.c.room_key == key, allowed.c.user_id == user_id
                )
            ).first()
        return JoinDecision(managed=True, allowed=hit is not None)

    def invites(self) -> dict[RoomKey, frozenset[UserID]]:
        """Invites the sync sent and has not withdrawn (Synapse's member lists are costly)."""
        out: dict[RoomKey, set[UserID]] = {}
        with self._engine.connect() as c:
            for key, user in c.execute(sa.select(invites.c.room_key, invites.c.user_id)):
                out.setdefault(RoomKey(key), set()).add(UserID(user))
        return {key: frozenset(users) for key, users in out.items()}

    def record_invite(self, key: RoomKey, user: UserID, present: bool) -> None:
        with self._engine.begin() as c:
            c.execute(invites.delete().where(invites.c.room_key == key, invites.c.user_id == user))
            if present:
                c.execute(invites.insert().values(room_key=key, user_id=user))

    # -- people -----------------------------------------------------------------------------

    def accounts(self) -> dict[SourcedId, Account]:
        with self._engine.connect() as c:
            rows = c.execute(sa.select(accounts.c.person_id, accounts.c.user_id, accounts.c.puppet))
            return {SourcedId(p): Account(UserID(u), bool(pp)) for p, u, pp in rows}

    def linked(self) -> frozenset[SourcedId]:
        with self._engine.connect() as c:
            rows = c.execute(sa.select(accounts.c.person_id).where(accounts.c.linked))
            return frozenset(SourcedId(p) for (p,) in rows)

    def save_accounts(self, new: Mapping[SourcedId, Account], linked: bool = False) -> None:
        """Insert or replace accounts; ``linked`` marks the person as using the messenger."""
        with self._engine.begin() as c:
            for person, account in new.items():
                c.execute(accounts.delete().where(accounts.c.person_id == person))
                c.execute(accounts.delete().where(accounts.c.user_id == account.user_id))
                c.execute(
                    accounts.insert().values(
                        person_id=person,
                        user_id=account.user_id,
                        puppet=account.puppet,
                        linked=linked,
                    )
                )
            _bump(c, "people")

    def puppets(self) -> dict[UserID, str]:
        with self._engine.connect() as c:
            rows = c.execute(sa.select(puppets.c.user_id, puppets.c.display_name))
            return {UserID(u): n for u, n in rows}

    def is_puppet(self, user_id: UserID) -> bool:
        with self._engine.connect() as c:
            query = sa.select(puppets.c.user_id).where(puppets.c.user_id == user_id)
            return c.execute(query).first() is not None

    def save_puppet(self, user_id: UserID, display_name: str) -> None:
        with self._engine.begin() as c:
            c.execute(puppets.delete().where(puppets.c.user_id == user_id))
            c.execute(puppets.insert().values(user_id=user_id, display_name=display_name))

    # -- people who left ----------------------------------------------------------------------

    def departures(self) -> dict[UserID, Departure]:
        with self._engine.connect() as c:
            rows = c.execute(sa.select(departures)).all()
        return {
            UserID(r.user_id): Departure(
                UserID(r.user_id),
                r.display_name,
                r.left_ms,
                r.deactivated_ms,
                r.erased_ms,
                r.erased_media,
            )
            for r in rows
        }

    def record_leavers(self, users: Iterable[UserID]) -> None:
        """People the roster no longer has; a person already noted keeps their first date."""
        names = self.puppets()
        with self._engine.begin() as c:
            known = {u for (u,) in c.execute(sa.select(departures.c.user_id))}
            for user in sorted(set(users) - known):
                c.execute(
                    departures.insert().values(
                        user_id=user, display_name=names.get(user, ""), left_ms=self._now_ms()
                    )
                )

    def record_deactivation(self, user: UserID) -> None:
        with self._engine.begin() as c:
            c.execute(
                departures.update()
                .where(departures.c.user_id == user)
                .values(deactivated_ms=self._now_ms())
            )

    def forget_departure(self, user: UserID) -> None:
        """The person is back in the roster and their account works again."""
        with self._engine.begin() as c:
            c.execute(departures.delete().where(departures.c.user_id == user))

    def record_erasure(self, user: UserID, media: int) -> None:
        with self._engine.begin() as c:
            c.execute(
                departures.update()
                .where(departures.c.user_id == user)
                .values(erased_ms=self._now_ms(), erased_media=media)
            )

    # -- transactions -----------------------------------------------------------------------

    def record_transaction(self, txn_id: str, raw_events: Sequence[object]) -> TransactionOutcome:
        """Store a transaction and its events atomically; a replay stores nothing.

        A malformed event is kept in ``rejected_events`` with its reason; it never
        fails the transaction, so one bad event cannot wedge the homeserver's queue.
        """
        key = _txn_key(txn_id, raw_events)
        with self._engine.begin() as c:
            if c.execute(
                sa.select(transactions.c.txn_key).where(transactions.c.txn_key == key)
            ).first():
                return TransactionOutcome(new=False, stored=(), rejected=0)
            stored, bad = _split_events(raw_events)
            fresh = _insert_events(c, key, stored)
            for reason, body in bad:
                c.execute(rejected.insert().values(txn_key=key, reason=reason, body=body))
            c.execute(
                transactions.insert().values(
                    txn_key=key, txn_id=txn_id, received_ms=self._now_ms(), events=len(raw_events)
                )
            )
        return TransactionOutcome(new=True, stored=fresh, rejected=len(bad))

    def known_events(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the store has."""
        with self._engine.connect() as c:
            rows = c.execute(sa.select(events.c.event_id).where(events.c.event_id.in_(ids)))
            return {str(r) for (r,) in rows}

    def record_receipts(self, ephemeral: Sequence[object]) -> int:
        """Keep each person's newest ``m.read`` receipt per room; returns how many moved."""
        moved = 0
        with self._engine.begin() as c:
            for room, user, event_id, ts in _read_receipts(ephemeral):
                key = (receipts.c.room_id == room) & (receipts.c.user_id == user)
                known = c.execute(sa.select(receipts.c.ts).where(key)).first()
                if known is None:
                    row = {"room_id": room, "user_id": user, "event_id": event_id, "ts": ts}
                    c.execute(receipts.insert().values(**row))
                elif known.ts <= ts:
                    c.execute(receipts.update().where(key).values(event_id=event_id, ts=ts))
                else:
                    continue
                moved += 1
        return moved

    def readers(self, room: RoomID, event_id: str, ignore: frozenset[str]) -> Readers | None:
        """Who of the room's members when ``event_id`` was sent has read it (a receipt on it
        or on a later event) and who has not; people who joined later are not counted.
        None: the event is not one this appservice saw."""
        with self._engine.connect() as c:
            found = c.execute(
                sa.select(events.c.body).where(
                    events.c.event_id == event_id, events.c.room_id == room
                )
            ).first()
            if found is None:
                return None
            event = json.loads(found.body)
            sent_at = int(event.get("origin_server_ts", 0))
            members = _members_at(
                c.execute(
                    sa.select(events.c.body).where(
                        events.c.room_id == room, events.c.type == "m.room.member"
                    )
                ),
                sent_at,
            )
            marks: dict[str, str] = {
                str(u): str(e)
                for u, e in c.execute(
                    sa.select(receipts.c.user_id, receipts.c.event_id).where(
                        receipts.c.room_id == room
                    )
                )
            }
            at = {
                e: int(json.loads(b).get("origin_server_ts", 0))
                for e, b in c.execute(
                    sa.select(events.c.event_id, events.c.body).where(
                        events.c.event_id.in_(set(marks.values()))
                    )
                )
            }
        sender = str(event.get("sender", ""))
        counted = sorted(members - ignore - {sender})
        read = [
            u
            for u in counted
            if marks.get(u) == event_id or at.get(marks.get(u, ""), -1) >= sent_at
        ]
        return Readers(sender=sender, read=read, unread=[u for u in counted if u not in read])

    def receipts_and_members(self, room: RoomID) -> tuple[int, int]:
        """The rows «Кто прочитал» must read, read and nothing decided (the benchmark's
        baseline): the room's receipts and membership events."""
        with self._engine.connect() as c:
            marks = c.execute(sa.select(receipts).where(receipts.c.room_id == room)).all()
            joins = c.execute(
                sa.select(events.c.body).where(
                    events.c.room_id == room, events.c.type == "m.room.member"
                )
            ).all()
        return len(marks), len(joins)

    def commands_since(self, since_ms: int, limit: int = 200) -> list[tuple[int, dict[str, Any]]]:
        """Messages for the bots received at or after ``since_ms``, oldest first, with the time
        their transaction arrived (the reader's next cursor): text starting with ``!`` (a
        command), files sent in reply to a message (homework handed in) and reports of
        messages (the policy module's ``org.parta.report``)."""
        query = (
            sa.select(transactions.c.received_ms, events.c.body)
            .join(transactions, transactions.c.txn_key == events.c.txn_key)
            .where(
                events.c.type.in_(("m.room.message", REPORT_TYPE)),
                transactions.c.received_ms >= since_ms,
            )
            .order_by(transactions.c.received_ms, events.c.event_id)
        )
        found: list[tuple[int, dict[str, Any]]] = []
        with self._engine.connect() as c:
            for received, body in c.execute(query):
                event = json.loads(body)
                content = event.get("content", {})
                text = content.get("body")
                command = isinstance(text, str) and without_fallback(text).lstrip().startswith("!")
                reply = content.get("msgtype") in _FILE_TYPES and isinstance(
                    content.get("m.relates_to", {}).get("m.in_reply_to"), dict
                )
                if command or reply or event.get("type") == REPORT_TYPE:
                    found.append((int(received), event))
                    if len(found) >= limit:
                        break
        return found

    def event_count(self) -> int:
        with self._engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())

    def transaction_count(self) -> int:
        with self._engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(transactions)).scalar_one())

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self, name: str) -> Any:
        with self._engine.connect() as c:
            body = c.execute(sa.select(snapshots.c.body).where(snapshots.c.name == name)).scalar()
        return None if body is None else json.loads(body)

    def save_snapshot(self, name: str, value: Any, *, changes_diary: bool = True) -> None:
        """``changes_diary``: what the policy module answers from has changed (its caches go)."""
        body = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._engine.begin() as c:
            c.execute(snapshots.delete().where(snapshots.c.name == name))
            c.execute(snapshots.insert().values(name=name, body=body))
            if changes_diary:
                _bump(c, "people", "diary")

    def generations(self) -> tuple[int, int]:
        """(diary, people): the snapshot's generation, and the snapshot-or-accounts one."""
        with self._engine.connect() as c:
            rows = c.execute(sa.select(generations.c.name, generations.c.value))
            found = {str(name): int(value) for name, value in rows}
        return found.get("diary", 0), found.get("people", 0)


DIARY_SNAPSHOT = "diary"
"""The diary last applied (``appservice.diary_sync.snapshot``'s format)."""
LAST_SYNC = "last-sync"
"""The snapshot of the last whole-school sync applied: when it ended, how many actions, how
many failed, how long it took (``parta status``, the status page and the metrics read it)."""

_REQUIRED = ("event_id", "room_id", "type", "sender")


@dataclass(frozen=True)
class Readers:
    sender: str
    read: list[str]
    unread: list[str]


def _read_receipts(ephemeral: Iterable[object]) -> Iterator[tuple[str, str, str, int]]:
    """(room, user, event, ts) of each ``m.read`` in the transaction's ephemeral events."""
    for item in ephemeral:
        if not isinstance(item, dict) or item.get("type") != "m.receipt":
            continue
        room, content = item.get("room_id"), item.get("content")
        if not isinstance(room, str) or not isinstance(content, dict):
            continue
        for event_id, kinds in content.items():
            readers = kinds.get("m.read") if isinstance(kinds, dict) else None
            for user, info in (readers or {}).items() if isinstance(readers, dict) else ():
                ts = info.get("ts") if isinstance(info, dict) else None
                if isinstance(user, str) and isinstance(ts, int):
                    yield room, user, str(event_id), ts


def _members_at(bodies: Iterable[Any], at: int) -> frozenset[str]:
    """Who was joined at ``at``, from the room's membership events seen."""
    latest: dict[str, tuple[int, str]] = {}
    for (body,) in bodies:
        e = json.loads(body)
        ts, user = int(e.get("origin_server_ts", 0)), e.get("state_key")
        if not isinstance(user, str) or ts > at:
            continue
        if user not in latest or latest[user][0] <= ts:
            latest[user] = (ts, str(e.get("content", {}).get("membership", "")))
    return frozenset(u for u, (_, m) in latest.items() if m == "join")


def _split_events(
    raw_events: Iterable[object],
) -> tuple[list[ReceivedEvent], list[tuple[str, str]]]:
    good: list[ReceivedEvent] = []
    bad: list[tuple[str, str]] = []
    for raw in raw_events:
        body = json.dumps(raw, ensure_ascii=False, default=str)
        if not isinstance(raw, dict):
            bad.append(("not an object", body))
            continue
        missing = [k for k in _REQUIRED if not isinstance(raw.get(k), str) or not raw.get(k)]
        if missing:
            bad.append((f"missing or not a string: {', '.join(missing)}", body))
            continue
        good.append(ReceivedEvent(raw["event_id"], raw["room_id"], raw["type"], raw["sender"], raw))
    return good, bad


def _insert_events(
    c: Connection, key: str, stored: list[ReceivedEvent]
) -> tuple[ReceivedEvent, ...]:
    """Insert events not seen before (an event can come again in another transaction)."""
    ids = [e.event_id for e in stored]
    seen = {r for (r,) in c.execute(sa.select(events.c.event_id).where(events.c.event_id.in_(ids)))}
    fresh: dict[str, ReceivedEvent] = {}
    for e in stored:
        if e.event_id not in seen and e.event_id not in fresh:
            fresh[e.event_id] = e
    if fresh:
        c.execute(
            events.insert(),
            [
                {
                    "event_id": e.event_id,
                    "txn_key": key,
                    "room_id": e.room_id,
                    "type": e.type,
                    "sender": e.sender,
                    "body": json.dumps(e.body, ensure_ascii=False),
                }
                for e in fresh.values()
            ],
        )
    return tuple(fresh.values())
