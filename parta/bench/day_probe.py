"""CPU and memory of the stack's processes, read from ``/proc`` before and after a run.

PostgreSQL is counted by its backends serving this school's databases (from
``pg_stat_activity``), not the whole server: other schools may share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psycopg

from parta.stack import SchoolStack


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident memory (``VmHWM``: its peak) in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def groups(stack: SchoolStack, workers: Iterable[int] = ()) -> dict[str, list[int]]:
    """The stack's processes by the name the figures give them; ``workers``: Synapse's."""

    def pid(child: object) -> list[int]:
        found = getattr(child, "pid", None)
        return [found] if isinstance(found, int) else []

    bridge = pid(stack.bridge)
    return {
        "synapse": pid(stack.synapse),
        "synapse_workers": list(workers),
        "appservice": pid(stack.appservice),
        "diary": pid(stack.diary),
        "bots": pid(stack.bots),
        "call_bridge": bridge + [c for b in bridge for c in children(b)],
        "postgres": postgres_backends(stack),
    }


def postgres_backends(stack: SchoolStack) -> list[int]:
    config = stack.config
    if config.database.kind != "postgres":
        return []
    names = [config.synapse_db_name, *config.component_db_names]
    with psycopg.connect(config.database.dsn) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (names,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def snapshot(by_name: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    return {name: {p: cpu_seconds(p) for p in pids} for name, pids in by_name.items()}


def shares(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], wall_s: float
) -> dict[str, float]:
    """CPU seconds / wall seconds per group (1.0 = one core), over processes seen both times."""
    return {
        name: round(_spent(before.get(name, {}), used) / wall_s, 3) for name, used in after.items()
    }


def pid_shares(
    before: dict[str, dict[int, float]],
    after: dict[str, dict[int, float]],
    wall_s: float,
    pids: dict[str, int],
) -> dict[str, float]:
    """CPU seconds / wall seconds of single processes by name, whichever group they are in."""
    was = {p: used for group in before.values() for p, used in group.items()}
    now = {p: used for group in after.values() for p, used in group.items()}
    return {
        name: round((now.get(p, 0.0) - was.get(p, 0.0)) / wall_s, 3) for name, p in pids.items()
    }


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """A process new since ``before`` (a PostgreSQL backend) spent all its CPU in the run."""
    return sum(used - before.get(p, 0.0) for p, used in after.items())
