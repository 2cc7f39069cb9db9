"""Who was in a call and for how long: kept by the pool, summed per person (pure part first).

A person who drops out and comes back has several visits; their time is the union
of their visits (two tabs at once count once).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo


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


class AttendanceBook:
    """Visits of every call of the pool, in one SQLite file next to the used tokens."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS visits (call TEXT NOT NULL, user TEXT NOT NULL,"
            " name TEXT NOT NULL, joined_at REAL NOT NULL, left_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS visits_call ON visits (call)")

    def record(self, call: str, visit: Visit) -> None:
        self._db.execute(
            "INSERT INTO visits VALUES (?, ?, ?, ?, ?)",
            (call, visit.user, visit.name, visit.joined_at, visit.left_at),
        )

    def visits(self, call: str) -> list[Visit]:
        rows = self._db.execute(
            "SELECT user, name, joined_at, left_at FROM visits WHERE call = ? ORDER BY joined_at",
            (call,),
        ).fetchall()
        return [Visit(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
