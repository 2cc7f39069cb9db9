"""``parta bench sync``: provision a synthetic school on a fresh Synapse, print figures.

::

    generate N students ─▶ fresh Synapse A ─▶ structure (rooms, staff)
                                           ─▶ link 20 people one by one
                                           ─▶ link everybody (eager)
                                           ─▶ no-op re-sync ─▶ move one student
                        ─▶ fresh Synapse B ─▶ baseline: the same rooms, people provisioned
                                              the way peers do (register, invite, join, then
                                              set the name, one request at a time per person)

Figures, never assertions: times, events Synapse persisted (read from its
database), requests sent, Synapse's CPU share, and the speed-up over the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from appservice.diary_sync.content import create_room_body
from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import ClassKind, Diary, Enrollment, EnrollmentRole
from appservice.diary_sync.roster import load_roster
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.config import AppserviceConfig, DatabaseConfig, HomeserverConfig, SchoolConfig
from kernel.ids import RoomID, ServerName, SourcedId, UserID, localpart_of
from parta.bench.synapse_db import synapse_row
from parta.stack import SchoolStack, drop_databases
from synthetic.school import generate_school, write_oneroster

T = TypeVar("T")
LINK_SAMPLE = 20


@dataclass
class Probe:
    """Reads what Synapse did: persisted events (from its database) and its CPU time."""

    stack: SchoolStack

    def events(self) -> int:
        return int(synapse_row(self.stack.config, "SELECT count(*) FROM events")[0])

    def cpu_seconds(self) -> float:
        pid = self.stack.synapse.pid if self.stack.synapse else None
        if pid is None:
            return 0.0
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(step: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await step()
    return result, time.perf_counter() - started


def report(figures: dict[str, Any]) -> None:
    """Each figure as soon as it is known (stderr), so a long run shows its progress."""
    print(json.dumps(figures, ensure_ascii=False), file=sys.stderr, flush=True)


def bench_config(state: Path, database: str, port: int, prefix: str) -> SchoolConfig:
    return SchoolConfig(
        server_name=f"localhost:{port}",
        state_dir=state,
        homeserver=HomeserverConfig(client_port=port),
        appservice=AppserviceConfig(port=port + 1),
        database=DatabaseConfig(kind="postgres", name_prefix=prefix)
        if database == "postgres"
        else DatabaseConfig(),
        for_tests=True,  # rate limits off: the benchmark measures the sync, not the limiter
    )


def fresh(config: SchoolConfig) -> SchoolStack:
    shutil.rmtree(config.state_dir, ignore_errors=True)
    drop_databases(config)
    return SchoolStack.for_config(config, with_diary=False)


def memberships(school: SchoolSync, diary: Diary, eager: bool) -> int:
    return sum(len(r.members) for r in school.desired(diary, eager).rooms.values())


async def measure_sync(stack: SchoolStack, diary: Diary) -> dict[str, Any]:
    probe, client, store = Probe(stack), stack.client(), stack.open_store()
    school = stack.school_sync(client, store)
    out: dict[str, Any] = {}
    try:
        cpu0, wall0, ev0 = probe.cpu_seconds(), time.perf_counter(), probe.events()
        _, out["structure_s"] = await timed(lambda: school.run(diary, SyncOptions()))
        ev1 = probe.events()
        out["structure_events"] = ev1 - ev0
        out["link_one_p95_s"], ev2 = await _link_sample(school, diary, probe)
        report(out)
        before = memberships(school, diary, eager=False)
        _, out["link_all_s"] = await timed(lambda: school.run(diary, SyncOptions(eager=True)))
        ev3 = probe.events()
        added = memberships(school, diary, eager=True) - before
        out["events_per_membership"] = round((ev3 - ev2) / max(added, 1), 3)
        out["synapse_cpu_share"] = round(
            (probe.cpu_seconds() - cpu0) / (time.perf_counter() - wall0), 3
        )
        report(out)
        runs = [await timed(lambda: school.run(diary, SyncOptions(eager=True))) for _ in range(3)]
        out["noop_resync_first_s"] = runs[0][1]  # right after the bulk: Synapse still busy
        out["noop_resync_s"] = statistics.median(seconds for _r, seconds in runs)
        out["noop_writes"] = sum(0 if r.report is None else r.report.writes for r, _s in runs)
        moved_diary = move_one(diary)
        moved, out["move_one_s"] = await timed(
            lambda: school.run(moved_diary, SyncOptions(eager=True))
        )
        out["move_one_actions"] = len(moved.actions)
        out["rooms"] = len(store.room_ids())
        report(out)
    finally:
        store.close()
        await client.aclose()
    return out


async def _link_sample(school: SchoolSync, diary: Diary, probe: Probe) -> tuple[float, int]:
    sample = sorted(p for p, x in diary.people.items() if not x.role.is_staff)[:LINK_SAMPLE]
    times = []
    for person in sample:
        started = time.perf_counter()
        await school.link(diary, person, None, SyncOptions())
        times.append(time.perf_counter() - started)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    return round(p95, 3), probe.events()


def move_one(diary: Diary) -> Diary:
    """Move one student of the first homeroom to the next one, subject classes included."""
    homerooms = sorted(c for c, x in diary.classes.items() if x.kind is ClassKind.HOMEROOM)
    source, target = homerooms[0], homerooms[1]
    students = _students_by_class(diary)
    student = min(students[source])
    follows = {  # the target homeroom's subject classes: they share its students
        c
        for c, x in diary.classes.items()
        if x.kind is ClassKind.SCHEDULED and students.get(c, set()) & students[target]
    }
    kept = {
        e
        for e in diary.enrollments
        if not (e.person_id == student and e.role is EnrollmentRole.STUDENT)
    }
    kept |= {Enrollment(c, student, EnrollmentRole.STUDENT) for c in (target, *follows)}
    return Diary(diary.schools, diary.classes, diary.people, frozenset(kept), diary.guardianships)


def _students_by_class(diary: Diary) -> dict[SourcedId, set[SourcedId]]:
    out: dict[SourcedId, set[SourcedId]] = {}
    for e in diary.enrollments:
        if e.role is EnrollmentRole.STUDENT:
            out.setdefault(e.class_id, set()).add(e.person_id)
    return out


async def measure_baseline(stack: SchoolStack, diary: Diary, concurrency: int) -> float:
    """Peers' way: rooms as usual, then per person (one request at a time) register,
    invite and join each room, and set the display name last."""
    client, store = stack.client(), stack.open_store()
    school = stack.school_sync(client, store)
    server = ServerName(stack.config.server_name)
    try:
        want = school.desired(diary, eager=True)
        rooms = {}
        for layout in layout_diary(diary):
            space = None
            for spec in layout.rooms:
                body = create_room_body(spec, {}, space, server)
                body["initial_state"] = [
                    s for s in body["initial_state"] if s["type"] != "m.room.join_rules"
                ]
                rooms[spec.key] = await client.create_room(body)
                space = space or rooms[spec.key]
        by_user: dict[UserID, list[RoomID]] = {}
        for key, room in want.rooms.items():
            for user in room.members:
                by_user.setdefault(user, []).append(rooms[key])
        gate = asyncio.Semaphore(concurrency)

        async def person(user: UserID, name: str) -> None:
            async with gate:
                await client.register(localpart_of(user))
                for room in by_user.get(user, []):
                    await client.invite(room, user)
                    await client.join(room, user)
                await client.set_display_name(user, name)

        _, seconds = await timed(
            lambda: asyncio.gather(*(person(u, n) for u, n in want.puppets.items()))
        )
        return seconds
    finally:
        store.close()
        await client.aclose()


def run_bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write_oneroster(generate_school(args.students, seed=1), Path(tmp) / "roster")
        diary = load_roster(Path(tmp) / "roster")
    state = args.state.resolve()
    config = bench_config(state / "sync", args.database, 18400, "parta_bench")
    result: dict[str, Any] = {
        "students": args.students,
        "people": len(diary.people),
        "database": args.database,
    }
    with fresh(config) as stack:
        result.update(asyncio.run(measure_sync(stack, diary)))
    if not args.no_baseline:
        base = bench_config(state / "baseline", args.database, 18500, "parta_baseline")
        with fresh(base) as stack:
            seconds = asyncio.run(measure_baseline(stack, diary, config.sync.concurrency))
        result["baseline_link_all_s"] = round(seconds, 2)
        result["speedup_vs_baseline"] = round(seconds / result["link_all_s"], 2)
    print_figures(result, args.json)
    return 0


def print_figures(result: dict[str, Any], as_json: bool) -> None:
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    if as_json:
        print(json.dumps(rounded, ensure_ascii=False, indent=2))
        return
    for key, value in rounded.items():
        print(f"{key:>24}: {value}")
