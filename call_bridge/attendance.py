"""Who was in a call and for how long: kept by the pool, summed per person (pure part first).

A person who drops out and comes back has several visits; their time is the union
of their visits (two tabs at once count once).

The book also keeps the calls announced in Matrix and which worker holds each: a worker
killed mid-call left its widget («идёт звонок») behind, and takes it down when it starts
again unless another worker holds the call by then (:meth:`Calls.wrap_up_orphans`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kernel.db import Migration, create_missing, open_store


@dataclass(frozen=True)
class Visit:
    """One stay of one person in one call."""

    user: str
    name: str
    joined_at: float
    left_at: float


@dataclass(frozen=True)
class Presence:
    user: str
    name: str
    first_joined: float
    last_left: float
    seconds: int


def summarise(visits: Iterable[Visit]) -> list[Presence]:
    """One line per person, by first arrival."""
    by_user: dict[str, list[Visit]] = defaultdict(list)
    for visit in visits:
        by_user[visit.user].append(visit)
    found = []
    for user, stays in by_user.items():
        stays.sort(key=lambda v: v.joined_at)
        total, end = 0.0, float("-inf")
        for stay in stays:
            start = max(stay.joined_at, end)
            if stay.left_at > start:
                total += stay.left_at - start
            end = max(end, stay.left_at)
        found.append(Presence(user, stays[-1].name, stays[0].joined_at, end, round(total)))
    return sorted(found, key=lambda p: (p.first_joined, p.user))


def report(title: str, presence: list[Presence], zone: ZoneInfo) -> str:
    """The teacher's message after the lesson (Russian, plain text)."""
    lines = [f"Посещаемость: {title}", f"Были на уроке: {len(presence)}"]
    for p in presence:
        came = datetime.fromtimestamp(p.first_joined, zone).strftime("%H:%M")
        went = datetime.fromtimestamp(p.last_left, zone).strftime("%H:%M")
        minutes = max(1, round(p.seconds / 60)) if p.seconds else 0
        lines.append(f"• {p.name} — {minutes} мин ({came}–{went})")
    return "\n".join(lines)


_meta = sa.MetaData()
visits = sa.Table(
    "visits",
    _meta,
    sa.Column("call", sa.Text, nullable=False),
    sa.Column("user", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("joined_at", sa.Float, nullable=False),
    sa.Column("left_at", sa.Float, nullable=False),
    sa.Index("visits_call", "call"),
)
open_calls = sa.Table(
    "open_calls",
    _meta,
    sa.Column("call", sa.String(255), primary_key=True),
    sa.Column("room", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("worker", sa.Integer, nullable=False),
    sa.Column("hosts", sa.Text, nullable=False),
)
STORE = "bridge.attendance"
MIGRATIONS = (
    Migration(1, "visits of parta 0.1", lambda op: create_missing(op, visits)),
    Migration(2, "calls announced in Matrix, by worker", lambda op: create_missing(op, open_calls)),
)


@dataclass(frozen=True)
class OpenCall:
    """A call whose widget is up in its room, and the worker that put it there."""

    call: str
    room: str
    title: str
    worker: int
    hosts: tuple[str, ...]


class AttendanceBook:
    """Visits of every call of the pool, in one store next to the used tokens."""

    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    def record(self, call: str, visit: Visit) -> None:
        """A stay, or the same stay so far again (one row per person's arrival)."""
        row = {"call": call, "user": visit.user, "name": visit.name}
        v = visits
        with self._engine.begin() as db:
            db.execute(
                v.delete().where(
                    v.c.call == call, v.c.user == visit.user, v.c.joined_at == visit.joined_at
                )
            )
            db.execute(v.insert().values(**row, joined_at=visit.joined_at, left_at=visit.left_at))

    def visits(self, call: str) -> list[Visit]:
        v = visits
        with self._engine.connect() as db:
            rows = db.execute(
                sa.select(v.c.user, v.c.name, v.c.joined_at, v.c.left_at)
                .where(v.c.call == call)
                .order_by(v.c.joined_at)
            ).all()
        return [Visit(*row) for row in rows]

    def opened(self, call: OpenCall) -> None:
        """This worker holds ``call`` now (a call moved from a dead worker changes hands)."""
        o = open_calls
        with self._engine.begin() as db:
            db.execute(o.delete().where(o.c.call == call.call))
            db.execute(
                o.insert().values(
                    call=call.call,
                    room=call.room,
                    title=call.title,
                    worker=call.worker,
                    hosts=json.dumps(list(call.hosts)),
                )
            )

    def closed(self, call: str, worker: int) -> None:
        o = open_calls
        with self._engine.begin() as db:
            db.execute(o.delete().where(o.c.call == call, o.c.worker == worker))

    def holder(self, call: str) -> OpenCall | None:
        """Who holds ``call`` now (None: nobody announced it, or it ended)."""
        o = open_calls
        with self._engine.connect() as db:
            r = db.execute(sa.select(o).where(o.c.call == call)).first()
        if r is None:
            return None
        return OpenCall(r.call, r.room, r.title, r.worker, tuple(json.loads(r.hosts)))

    def held_by(self, worker: int) -> list[OpenCall]:
        o = open_calls
        with self._engine.connect() as db:
            rows = db.execute(sa.select(o).where(o.c.worker == worker)).all()
        return [
            OpenCall(r.call, r.room, r.title, r.worker, tuple(json.loads(r.hosts))) for r in rows
        ]

    def close(self) -> None:
        self._engine.dispose()
