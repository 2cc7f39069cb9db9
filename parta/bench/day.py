"""``parta bench day``: a whole school's day against a whole stack on this machine.

::

    generated school (people >= N) ─▶ Synapse, appservice, diary, call bridge, bots
      ─▶ eager sync: everybody in every room of theirs
      ─▶ for each N (``--find-knee``: several, up to ``--clients``):
           2 load-generator processes (``python -m parta.bench.day_clients``), N clients
           ─▶ login ─▶ morning: each first /sync at a random moment of the window,
              then long-polling ─▶ day: class and parents' chatter at ``--rate``,
              typing, read receipts, one announcement to the whole school midday;
              the lesson (30 of a class join its call) at the same moment
           ─▶ report: deliveries (message × recipient) and their latency, first-sync
              times, errors by kind; CPU of each stack process over the run, RSS

Figures, never assertions (the integration test checks that they are real).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from collections import Counter
from typing import Any

from kernel.children import die_with_parent
from kernel.secrets import read_secret_file
from parta.bench import day_probe as probe
from parta.bench.day_lesson import lesson
from parta.bench.day_school import (
    ANNOUNCEMENTS,
    School,
    day_config,
    day_messages,
    drop,
    fresh,
    generated_for,
    provision,
)
from parta.bench.day_stats import by_kind, knee, percentile, steps, summary
from parta.stack import SchoolStack

GENERATORS = 2
LINE_LIMIT = 1 << 28
"""A generator's report is one JSON line: every delivery it saw."""


class Generator:
    """One load-generator process: its plan on stdin, one JSON line per step on stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, plan: dict[str, Any]) -> Generator:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "parta.bench.day_clients"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
            preexec_fn=die_with_parent,
        )
        made = cls(process)
        made.say(json.dumps(plan))
        return made

    def say(self, line: str) -> None:
        assert self.process.stdin is not None  # noqa: S101 - made with a pipe
        self.process.stdin.write(f"{line}\n".encode())

    async def hear(self, timeout_s: float) -> dict[str, Any]:
        assert self.process.stdout is not None  # noqa: S101 - made with a pipe
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        if not line:
            raise RuntimeError(f"a load generator exited ({self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.say("stop")
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def everyone(generators: list[Generator], word: str, timeout_s: float) -> list[Any]:
    for g in generators:
        g.say(word)
    return list(await asyncio.gather(*(g.hear(timeout_s) for g in generators)))


def plans(
    stack: SchoolStack, school: School, n: int, messages: list[dict[str, Any]], args: Any
) -> list[dict[str, Any]]:
    clients = school.people[:n]
    rooms_of: dict[str, list[str]] = {u: [] for u in clients}
    for room in school.rooms:
        for user in room.members:
            if user in rooms_of:
                rooms_of[user].append(room.room_id)
    return [
        {
            "homeserver": stack.config.homeserver_url,
            "as_token": read_secret_file(stack.config.as_token_file),
            "clients": [{"user": u, "rooms": rooms_of[u]} for u in clients[k::GENERATORS]],
            "messages": messages,
            "morning_s": args.morning,
            "receipt_share": args.receipts,
            "typing": not args.no_typing,
            "seed": args.seed + k,
        }
        for k in range(GENERATORS)
    ]


async def run_day(stack: SchoolStack, school: School, n: int, args: Any) -> dict[str, Any]:
    clients = frozenset(school.people[:n])
    run = f"n{n}-{secrets.token_hex(3)}-"
    messages = day_messages(school, clients, args.rate, args.day, args.seed, run)
    generators = [await Generator.start(p) for p in plans(stack, school, n, messages, args)]
    try:
        logins = await everyone(generators, "login", 600)
        by_name = probe.groups(stack)
        before = probe.snapshot(by_name) | {"load_generators": _cpu(generators)}
        wall0 = time.monotonic()
        await everyone(generators, "morning", args.morning + 600)
        morning_s = time.monotonic() - wall0
        t0 = time.time() + 0.5
        day = asyncio.gather(*(g.hear(args.day + 600) for g in generators))
        for g in generators:
            g.say(f"day {t0}")
        called = await _lesson(stack, school, clients, t0 + args.day / 2, args)
        await day
        reports = await everyone(generators, f"report {args.drain}", args.drain + 600)
        by_name = probe.groups(stack)
        after = probe.snapshot(by_name) | {"load_generators": _cpu(generators)}
        wall = time.monotonic() - wall0
    finally:
        for g in generators:
            await g.stop()
    figures = _figures(n, messages, reports, probe.shares(before, after, wall))
    figures["clients_per_room"] = _room_sizes(school, clients, messages)
    figures["login_s"] = round(max(r["login_s"] for r in logins), 2)
    figures["morning_all_s"] = round(morning_s, 2)
    figures["synapse_rss_mb"] = round(probe.rss_mb(by_name["synapse"][0]), 1)
    figures["synapse_rss_peak_mb"] = round(probe.rss_mb(by_name["synapse"][0], "VmHWM"), 1)
    figures.update(called)
    figures["errors"] += sum(called.get("lesson_errors", {}).values())
    return figures


def _room_sizes(
    school: School, clients: frozenset[str], messages: list[dict[str, Any]]
) -> dict[str, float]:
    """The mean number of clients in the rooms each kind of message went to."""
    spoken = {str(m["room"]) for m in messages}
    sizes: dict[str, list[int]] = {}
    for room in school.rooms:
        if room.room_id in spoken:
            sizes.setdefault(room.kind, []).append(len(room.members & clients))
    return {kind: round(sum(v) / len(v), 1) for kind, v in sorted(sizes.items())}


def _cpu(generators: list[Generator]) -> dict[int, float]:
    return {g.process.pid: probe.cpu_seconds(g.process.pid) for g in generators}


async def _lesson(
    stack: SchoolStack, school: School, clients: frozenset[str], at: float, args: Any
) -> dict[str, Any]:
    if args.no_lesson:
        return {}
    classes = [r for r in school.rooms if r.kind == "class"]
    room = max(classes, key=lambda r: (len(r.members & clients), r.room_id))
    await asyncio.sleep(max(0.0, at - time.time()))  # midday of the load's schedule
    as_token = read_secret_file(stack.config.as_token_file)
    return await lesson(stack.config.homeserver_url, stack.config.call_bridge_url, as_token, room)


def _figures(
    n: int, messages: list[dict[str, Any]], reports: list[dict[str, Any]], cpu: dict[str, float]
) -> dict[str, Any]:
    kind_of = {str(m["id"]): str(m["kind"]) for m in messages}
    deliveries = [(str(m), float(s)) for r in reports for m, s in r["deliveries"]]
    grouped = by_kind(deliveries, kind_of)
    chatter = [s for k, values in grouped.items() if k != ANNOUNCEMENTS for s in values]
    first = [float(s) for r in reports for s in r["first_sync_s"]]
    errors: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    for r in reports:
        errors.update(r["errors"])
        retries.update(r["retries"])
    chat = summary(chatter)
    return {
        "clients": n,
        "messages": len(messages),
        "sent": sum(int(r["sent"]) for r in reports),
        "expected": sum(int(r["expected"]) for r in reports),
        "delivered": sum(int(r["delivered"]) for r in reports),
        "delivery_p50_s": chat["p50_s"],
        "delivery_p95_s": chat["p95_s"],
        "delivery_p99_s": chat["p99_s"],
        "delivery_max_s": chat["max_s"],
        "delivery_by_room": {k: summary(v) for k, v in sorted(grouped.items())},
        "announcement_p95_s": summary(grouped.get(ANNOUNCEMENTS, []))["p95_s"],
        "first_sync_p50_s": _r(percentile(first, 0.5)),
        "first_sync_p95_s": _r(percentile(first, 0.95)),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "retries_by_kind": dict(retries),
        "synapse_cpu_share": cpu.get("synapse"),
        "cpu_share": cpu,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    generated = generated_for(args.clients, args.seed)
    config = day_config(args.state.resolve() / f"day-{args.database}", args.database)
    result: dict[str, Any] = {
        "database": args.database,
        "people": len(generated.diary.people),
        "students": sum(1 for p in generated.diary.people.values() if p.role.value == "student"),
    }
    try:
        with fresh(config) as stack:
            started = time.monotonic()
            school = await provision(stack, generated)
            result["provision_s"] = round(time.monotonic() - started, 1)
            counts = steps(args.clients, args.steps) if args.find_knee else [args.clients]
            runs = []
            for n in counts:
                runs.append(await run_day(stack, school, n, args))
                print(json.dumps(runs[-1], ensure_ascii=False), file=sys.stderr, flush=True)
    finally:
        drop(config)
    result.update(runs[-1])
    if args.find_knee:
        result["steps"] = runs
        result["knee_clients"] = knee((r["clients"], r["delivery_p95_s"]) for r in runs)
    return result


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0
