"""``parta bench sync --schools N --students M``: a district's one export on one shared server.

::

    generate N schools × M pupils ─▶ OneRoster 1.2 CSV ─▶ check (load and cross-check)
        ─▶ split (each school's part, as servers would take them)
        ─▶ fresh Synapse ─▶ plan (a dry run: layout, read, plan) ─▶ structure (apply)
                         ─▶ no-op re-sync (writes must be 0)
                         ─▶ the same no-op, school by school (dry runs of each part)

Figures, never assertions. The anchor is Microsoft School Data Sync, whose documentation
speaks of hours for a sync of this size; nothing of it runs here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appservice.diary_sync.district import part
from appservice.diary_sync.model import ClassKind, Diary, Role
from appservice.diary_sync.roster import Problem, load_roster
from appservice.school_sync import SyncOptions
from parta.bench.sync import Probe, bench_config, fresh, print_figures, report, timed
from parta.stack import SchoolStack
from synthetic.district import generate_district
from synthetic.school import write_oneroster

T = TypeVar("T")


def census(diary: Diary) -> dict[str, int]:
    return {
        "schools": len(diary.schools),
        "students": sum(p.role is Role.STUDENT for p in diary.people.values()),
        "people": len(diary.people),
        "homerooms": sum(c.kind is ClassKind.HOMEROOM for c in diary.classes.values()),
        "classes": len(diary.classes),
        "enrollments": len(diary.enrollments),
    }


async def measure_district(stack: SchoolStack, diary: Diary) -> dict[str, Any]:
    probe, client, store = Probe(stack), stack.client(), stack.open_store()
    school = stack.school_sync(client, store)
    out: dict[str, Any] = {}
    try:
        planned, out["plan_s"] = await timed(lambda: school.run(diary, SyncOptions(dry_run=True)))
        out["plan_actions"] = len(planned.actions)
        report(out)
        ev0 = probe.events()
        done, out["structure_s"] = await timed(lambda: school.run(diary, SyncOptions()))
        out["structure_events"] = probe.events() - ev0
        out["structure_writes"] = 0 if done.report is None else done.report.writes
        out["structure_failed"] = 0 if done.report is None else len(done.report.failed)
        out["rooms"] = len(store.room_ids())
        report(out)
        runs = [await timed(lambda: school.run(diary, SyncOptions())) for _ in range(2)]
        out["noop_resync_first_s"] = runs[0][1]
        out["noop_resync_s"] = runs[-1][1]
        out["noop_writes"] = sum(0 if r.report is None else r.report.writes for r, _s in runs)
        out["noop_requests"] = runs[-1][0].requests
        report(out)
        dry, out["noop_plan_s"] = await timed(lambda: school.run(diary, SyncOptions(dry_run=True)))
        out["noop_plan_actions"] = len(dry.actions)
        started = time.perf_counter()
        per_school = []
        for school_id in sorted(diary.schools):
            mine = part(diary, frozenset({school_id}))
            begun = time.perf_counter()
            await school.run(mine, SyncOptions(dry_run=True))
            per_school.append(time.perf_counter() - begun)
        out["noop_plan_one_by_one_s"] = time.perf_counter() - started
        out["noop_plan_one_school_median_s"] = statistics.median(per_school)
        out["one_by_one_vs_district"] = round(out["noop_plan_one_by_one_s"] / out["noop_plan_s"], 2)
        report(out)
    finally:
        store.close()
        await client.aclose()
    return out


def run_district_bench(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"database": args.database}
    started = time.perf_counter()
    generated = generate_district(args.schools, args.students, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        roster = Path(tmp) / "roster"
        write_oneroster(generated, roster)
        result["generate_s"] = time.perf_counter() - started
        warnings: list[Problem] = []
        diary, result["check_s"] = _clocked(lambda: load_roster(roster, warnings=warnings))
    result |= census(diary)
    result["check_warnings"] = len(warnings)
    parts, result["split_s"] = _clocked(
        lambda: [part(diary, frozenset({s})) for s in sorted(diary.schools)]
    )
    result["split_people"] = sum(len(p.people) for p in parts)
    report(result)
    config = bench_config(args.state.resolve() / "district", args.database, 18600, "parta_district")
    with fresh(config) as stack:
        result |= asyncio.run(measure_district(stack, diary))
    return result


def run_bench(args: argparse.Namespace) -> int:
    print_figures(run_district_bench(args), args.json)
    return 0


def _clocked(step: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = step()
    return value, time.perf_counter() - started
