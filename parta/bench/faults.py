"""``parta bench faults``: kill -9 at random points of a running school, then check it.

::

    one school's stack (Synapse, appservice, diary, bots; SQLite or PostgreSQL)
      for each round, for each fault kind (in turn):
        make it busy (a sync, messages, lessons) ─▶ the fault at a random point
        ─▶ restart what died ─▶ the invariants, each printed ✓ or ✗

The tests (``tests/faults``) run a few rounds of each kind; the benchmark runs many and
prints one JSON object: ``rounds``, ``faults``, ``violations`` (must be 0), ``by_kind``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appservice.diary_sync.model import Diary
from appservice.school_sync import SchoolSync
from appservice.store import Store
from kernel.matrix import MatrixClient
from parta.bench.faults_school import Check
from parta.stack import SchoolStack


@dataclass
class Harness:
    """The running school the faults are done to, and what the rounds share."""

    stack: SchoolStack
    store: Store
    client: MatrixClient
    school: SchoolSync
    diary: Diary
    work: Path
    rng: random.Random
    say: Callable[[str], None] = print
    changes: int = 0
    """Diaries applied so far: each fault's change has ids of its own."""


Fault = Callable[[Harness, int], Awaitable[list[Check]]]
"""One round of one kind: inject at a random point, recover, return the checks."""


@dataclass
class Report:
    rounds: int
    seed: int
    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, kind: str, checks: Sequence[Check], seconds: float, point: Check) -> None:
        """``point``: where the fault came, and whether in the window that matters."""
        entry = self.by_kind.setdefault(
            kind,
            {
                "faults": 0,
                "in_window": 0,
                "violations": 0,
                "known_gaps": 0,
                "seconds": 0.0,
                "failed": [],
            },
        )
        entry["faults"] += 1
        entry["in_window"] += int(point.ok)
        entry["seconds"] = round(entry["seconds"] + seconds, 1)
        bad = [c for c in checks if not c.ok and not c.upstream]
        gaps = [c for c in checks if not c.ok and c.upstream]
        entry["violations"] += len(bad)
        entry["known_gaps"] += len(gaps)
        entry["failed"].extend(f"{c.name}: {c.detail} — {c.upstream}" for c in gaps)
        entry["failed"].extend(f"{c.name}: {c.detail} ({point.detail})" for c in bad)

    @property
    def violations(self) -> int:
        return sum(int(e["violations"]) for e in self.by_kind.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "seed": self.seed,
            "faults": sum(int(e["faults"]) for e in self.by_kind.values()),
            "violations": self.violations,
            "known_gaps": sum(int(e["known_gaps"]) for e in self.by_kind.values()),
            "by_kind": self.by_kind,
            "seconds": round(self.seconds, 1),
        }


async def run_rounds(harness: Harness, kinds: dict[str, Fault], rounds: int, seed: int) -> Report:
    report = Report(rounds, seed)
    started = time.monotonic()
    for n in range(rounds):
        for kind, fault in kinds.items():
            began = time.monotonic()
            try:
                checks = await fault(harness, n)
            except Exception as e:  # a round that broke is a violation; the run goes on
                checks = [
                    Check("the round runs to its end", False, f"{type(e).__name__}: {e}"[:300])
                ]
            took = time.monotonic() - began
            point = next((c for c in checks if c.name == "point"), Check("point", False))
            held = [c for c in checks if c.name != "point"]
            report.add(kind, held, took, point)
            harness.say(f"round {n + 1}/{rounds} {kind} ({point.detail}, {took:.1f} s)")
            for check in held:
                mark = "✓" if check.ok else ("≈" if check.upstream else "✗")
                harness.say(f"  {mark} {check.name}" + ("" if check.ok else f": {check.detail}"))
    report.seconds = time.monotonic() - started
    return report


def all_kinds(database: str = "sqlite") -> dict[str, Fault]:
    """Every kind that applies to a school on ``database``."""
    from parta.bench.faults_kinds import kinds_for

    return kinds_for(database)


def main(args: argparse.Namespace) -> int:
    from parta.bench.faults_stack import fault_stack, open_harness

    kinds = all_kinds(args.database)
    chosen = args.kinds.split(",") if args.kinds else list(kinds)
    unknown = [k for k in chosen if k not in kinds]
    if unknown:
        print(f"unknown fault kinds: {', '.join(unknown)}; known: {', '.join(kinds)}")
        return 2
    say = (lambda _line: None) if args.json else print
    with tempfile.TemporaryDirectory(prefix="parta-faults-") as tmp:
        state = Path(args.state) if args.state else Path(tmp)
        with fault_stack(state, args.database) as stack:

            async def go() -> Report:
                async with open_harness(stack, state, args.seed, say) as harness:
                    picked = {k: kinds[k] for k in chosen}
                    return await run_rounds(harness, picked, args.rounds, args.seed)

            report = asyncio.run(go())
    out = report.to_json() | {"database": args.database}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0 if report.violations == 0 else 1
