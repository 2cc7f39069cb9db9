"""``parta bench day``: a whole school's day against a whole stack on this machine.

::

    generated school (people >= N) ─▶ Synapse (``--workers K``: and K generic workers),
      appservice, diary, call bridge, bots
      ─▶ eager sync: everybody in every room of theirs
      ─▶ for each N (``--find-knee``: several, up to ``--clients``):
           2 load-generator processes (``python -m parta.bench.day_clients``), N clients;
           they route reads to the workers as a sticky reverse proxy would
           ─▶ login ─▶ morning: each first /sync at a random moment of the window,
              then long-polling ─▶ day: class and parents' chatter at ``--rate``
              (one in ``--photo-every`` a photo), typing, read receipts, a teacher's
              poll the class answers, one announcement to the whole school midday;
              the lesson (30 of a class join its call) at the same moment
           ─▶ report: deliveries (message × recipient) and their latency, photos, the
              poll, first-sync times, errors by kind; CPU of each stack process over
              the run (Synapse's main and workers apart), RSS

Figures, never assertions (the integration test checks that they are real).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any

from kernel.children import die_with_parent
from kernel.secrets import read_secret_file
from parta.bench import day_probe as probe
from parta.bench.day_lesson import lesson
from parta.bench.day_lever import LEVERS, lever_names, restart_synapse, weigh, with_lever
from parta.bench.day_media import png
from parta.bench.day_profile import Profile
from parta.bench.day_report import figures, synapse_processes
from parta.bench.day_school import (
    School,
    day_config,
    day_messages,
    day_poll,
    fresh,
    generated_for,
    provision,
)
from parta.bench.day_settle import settle
from parta.bench.day_stats import knee, steps
from parta.bench.day_workers import SynapseWorkers
from parta.stack import SchoolStack, drop_databases

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
    stack: SchoolStack,
    school: School,
    n: int,
    day: dict[str, Any],
    workers: list[str],
    args: Any,
) -> list[dict[str, Any]]:
    """Each generator's share of the clients; every generator knows the whole day (the
    messages, the poll) and the workers a proxy would send reads to."""
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
            "messages": day["messages"],
            "poll": day["poll"],
            "workers": workers,
            "morning_s": args.morning,
            "receipt_share": args.receipts,
            "typing": not args.no_typing,
            "seed": args.seed + k,
        }
        for k in range(GENERATORS)
    ]


async def run_day(
    stack: SchoolStack, school: School, n: int, workers: SynapseWorkers | None, args: Any
) -> dict[str, Any]:
    clients = frozenset(school.people[:n])
    run = f"n{n}-{secrets.token_hex(3)}-"
    messages = day_messages(
        school, clients, args.rate, args.day, args.seed, run, photo_every=args.photo_every
    )
    poll = None if args.no_poll else day_poll(school, clients, args.day, run)
    urls = workers.urls if workers is not None else []
    worker_pids = workers.pids if workers is not None else {}
    planned = plans(stack, school, n, {"messages": messages, "poll": poll}, urls, args)
    generators = [await Generator.start(p) for p in planned]
    profile: Profile | None = None
    profiled: dict[str, Any] | None = None
    try:
        logins = await everyone(generators, "login", 600)
        by_name = probe.groups(stack, worker_pids.values())
        before = probe.snapshot(by_name) | {"load_generators": _cpu(generators)}
        wall0 = time.monotonic()
        await everyone(generators, "morning", args.morning + 600)
        morning_s = time.monotonic() - wall0
        if getattr(args, "profile_synapse", False):
            variant = getattr(args, "variant", "")
            name = f"synapse-{args.database}-n{n}{'-' + variant if variant else ''}.collapsed"
            out = args.state.resolve() / name
            profile = Profile(by_name["synapse"][0], out)
            await profile.start()
        t0 = time.time() + 0.5
        day = asyncio.gather(*(g.hear(args.day + 600) for g in generators))
        for g in generators:
            g.say(f"day {t0}")
        called = await _lesson(stack, school, clients, t0 + args.day / 2, args)
        await day
        reports = await everyone(generators, f"report {args.drain}", args.drain + 600)
        profiled = await profile.stop() if profile is not None else None
        by_name = probe.groups(stack, worker_pids.values())
        after = probe.snapshot(by_name) | {"load_generators": _cpu(generators)}
        wall = time.monotonic() - wall0
    finally:
        if profile is not None and profiled is None:
            await profile.stop()  # a day cut short: py-spy does not outlive it
        for g in generators:
            await g.stop()
    out = figures(n, messages, reports, probe.shares(before, after, wall))
    out["clients_per_room"] = _room_sizes(school, clients, messages)
    out["login_s"] = round(max(r["login_s"] for r in logins), 2)
    out["morning_all_s"] = round(morning_s, 2)
    synapse = {"main": by_name["synapse"][0], **worker_pids}
    processes = synapse_processes(
        probe.pid_shares(before, after, wall, synapse),
        {name: (probe.rss_mb(p), probe.rss_mb(p, "VmHWM")) for name, p in synapse.items()},
    )
    out["workers"] = len(worker_pids)
    out["synapse_pid"] = synapse["main"]
    out["synapse_processes"] = processes
    out["synapse_rss_mb"] = round(sum(p["rss_mb"] for p in processes.values()), 1)
    out["synapse_rss_peak_mb"] = round(sum(p["rss_peak_mb"] for p in processes.values()), 1)
    out["photo_bytes"] = len(png(0))
    out.update(called)
    out["errors"] += sum(called.get("lesson_errors", {}).values())
    if profiled is not None:
        out["synapse_profile"] = profiled
    return out


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


LEVER_RESTART_NO_WORKERS = (
    "parta bench day: --lever gc and --lever caches restart Synapse's main process only; "
    "weigh them without --workers"
)
WORKERS_NEED_POSTGRES = (
    "parta bench day: --workers needs --database postgres "
    "(Synapse's workers share one database, and SQLite cannot be shared)"
)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    generated = generated_for(args.clients, args.seed)
    config = day_config(args.state.resolve() / f"day-{args.database}", args.database, args.workers)
    result: dict[str, Any] = {
        "database": args.database,
        "workers": args.workers,
        "people": len(generated.diary.people),
        "students": sum(1 for p in generated.diary.people.values() if p.role.value == "student"),
    }
    try:
        with fresh(config) as stack, _workers(stack) as workers:
            started = time.monotonic()
            school = await provision(stack, generated)
            result["provision_s"] = round(time.monotonic() - started, 1)
            if not getattr(args, "no_settle", False):
                result.update(await settle(stack.config, args.settle_max, _say))
            counts = steps(args.clients, args.steps) if args.find_knee else [args.clients]
            runs: list[dict[str, Any]] = []
            weighed: list[dict[str, Any]] = []
            for n in counts:
                if getattr(args, "lever", None) is None:
                    runs.append(await run_day(stack, school, n, workers, args))
                    _say(json.dumps(runs[-1], ensure_ascii=False))
                    continue
                done, found = await _weigh(stack, school, n, workers, args)
                runs.extend(done)
                weighed.extend(found)
    finally:
        drop_databases(config)
    result.update(runs[-1])
    if weighed:
        result["lever"] = weighed
    if args.find_knee or weighed:
        result["steps"] = runs
    if args.find_knee:
        result["knee_clients"] = knee((r["clients"], r["delivery_p95_s"]) for r in runs)
    return result


async def _weigh(
    stack: SchoolStack, school: School, n: int, workers: SynapseWorkers | None, args: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day at ``n`` as asked, then each lever of ``--lever`` followed by the day as asked
    again (``day_lever``): the runs, and each lever weighed against the two around it."""
    names = lever_names(args.lever)
    done: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    restarts = any(LEVERS[name].homeserver for name in names)
    plan: list[tuple[str, str | None]] = [("baseline", None)]  # (the run's label, its lever)
    for name in names:
        plan += [(f"lever-{name}", name), (f"baseline-{name}", None)]
    for label, lever_name in plan:
        lever = LEVERS[lever_name] if lever_name is not None else None
        if restarts:
            changed = lever.homeserver if lever is not None else {}
            await asyncio.to_thread(restart_synapse, stack, changed)
        used = with_lever(args, lever) if lever is not None else args
        run = await run_day(
            stack, school, n, workers, argparse.Namespace(**vars(used), variant=label)
        )
        run["variant"] = label
        done.append(run)
        _say(json.dumps(run, ensure_ascii=False))
        if label.startswith("baseline-"):  # the lever just run, between two baselines
            found.append(weigh(label.removeprefix("baseline-"), *done[-3:]))
            _say(json.dumps(found[-1], ensure_ascii=False))
    return done, found


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _workers(stack: SchoolStack) -> Iterator[SynapseWorkers | None]:
    """Synapse's generic workers, if the stack's homeserver was rendered with any."""
    rendered = stack.rendered
    if rendered is None or not rendered.workers:
        yield None
        return
    with SynapseWorkers(rendered) as workers:
        yield workers


def main(args: argparse.Namespace) -> int:
    if args.workers and args.database != "postgres":
        print(WORKERS_NEED_POSTGRES, file=sys.stderr)
        return 2
    try:
        levers = lever_names(getattr(args, "lever", None))
    except ValueError as e:
        print(f"parta bench day: --lever: {e}", file=sys.stderr)
        return 2
    if args.workers and any(LEVERS[name].homeserver for name in levers):
        print(LEVER_RESTART_NO_WORKERS, file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0
