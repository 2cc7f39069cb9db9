"""``postgres-restart``: PostgreSQL goes away under load and comes back.

While the bot sends a steady stream of messages, every connection to the school's
databases (Synapse's and each component's) is cut and new ones are refused for a random
one to four seconds: what the school sees of a PostgreSQL restart, without stopping the
server other schools on the host use. Afterwards, with no process restarted (the same
pids): every component is ready again, every message reached the appservice's store once,
and the bots still post a new lesson.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
from psycopg import sql

from kernel.matrix import MatrixFailure
from parta.bench.faults import Harness
from parta.bench.faults_bots import open_lessons, posts
from parta.bench.faults_bridge import worker_pid
from parta.bench.faults_school import Check, stored

MESSAGES = 40
READY_S = 60.0
SYNAPSE_DROPS = (b"Error creating appservice transaction", b"Error starting AS recoverer")
"""What Synapse's appservice scheduler logs (``synapse/appservice/scheduler.py``) when its own
database is away at the wrong moment: it cannot write a batch of events as a transaction (the
batch is never sent), or a transaction the appservice refused cannot be marked for retrying
(it is not retried until Synapse restarts). The appservice's catch-up (:mod:`appservice.catch_up`)
reads such events back from the rooms, so every message must still reach the store; the round
says how many batches Synapse dropped."""


def _synapse_drops(harness: Harness) -> int:
    log = harness.stack.config.state_dir / "homeserver" / "homeserver.log"
    text = log.read_bytes() if log.exists() else b""
    return sum(text.count(line) for line in SYNAPSE_DROPS)


def _allow(harness: Harness, allowed: bool) -> None:
    with psycopg.connect(harness.stack.config.database.dsn, autocommit=True) as admin:
        for name in harness.stack.config.db_names:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(name), sql.SQL("true" if allowed else "false")
                )
            )
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                (list(harness.stack.config.db_names),),
            )


def _pids(harness: Harness) -> dict[str, int | None]:
    stack = harness.stack
    children = {"appservice": stack.appservice, "diary": stack.diary, "bots": stack.bots}
    found = {
        name: (c.pid if c is not None and c.poll() is None else None)
        for name, c in children.items()
    }
    found["synapse"] = stack.synapse.pid if stack.synapse and stack.synapse.running else None
    bridge = stack.bridge
    found["call_bridge"] = bridge.pid if bridge is not None and bridge.poll() is None else None
    if bridge is not None:  # its workers keep their stays in the bridge's database
        for i in range(stack.config.call_bridge.workers):
            found[f"call_bridge worker {i}"] = worker_pid(bridge.pid, i)
    return found


async def _all_ready(harness: Harness) -> dict[str, int]:
    config = harness.stack.config
    urls = {
        "appservice": f"{config.appservice_url}/ready",
        "diary": f"{config.diary_internal_url}/ready",
        "bots": f"{config.bots_url}/ready",
    }
    if harness.stack.bridge is not None:
        urls["call_bridge"] = f"{config.call_bridge_url}/ready"
    codes: dict[str, int] = {}
    deadline = time.monotonic() + READY_S
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            for name, url in urls.items():
                try:
                    codes[name] = (await http.get(url)).status_code
                except httpx.TransportError:
                    codes[name] = 0
            if all(code == 200 for code in codes.values()):
                break
            await asyncio.sleep(0.2)  # recovering by themselves; bounded
    return codes


async def _send(harness: Harness, n: int, sent: list[str]) -> None:
    """A steady stream from the bot, each message retried (same transaction id) until
    Synapse takes it: a client does the same."""
    room = harness.store.room_ids()[harness.rng.choice(sorted(harness.store.room_ids()))]
    for i in range(MESSAGES):
        body = {"msgtype": "m.text", "body": f"Перезапуск базы {n}.{i}"}
        deadline = time.monotonic() + READY_S
        while True:
            try:
                sent.append(
                    await harness.client.send_message(room, body, f"pg-{n}-{i}", harness.school.bot)
                )
                break
            except MatrixFailure:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)  # Synapse without its database; bounded
        await asyncio.sleep(0.05)  # a steady rate, not a burst


async def postgres_restart(harness: Harness, n: int) -> list[Check]:
    if harness.stack.config.database.kind != "postgres":
        return [Check("point", False, "SQLite school: nothing to restart")]
    before = _pids(harness)
    drops_before = _synapse_drops(harness)
    sent: list[str] = []
    stream = asyncio.ensure_future(_send(harness, n, sent))
    await asyncio.sleep(harness.rng.uniform(0.2, 1.0))  # the fault's random point
    away = harness.rng.uniform(1.0, 4.0)
    await asyncio.to_thread(_allow, harness, False)
    try:
        await asyncio.sleep(away)  # the database is away this long
    finally:
        await asyncio.to_thread(_allow, harness, True)
    await stream
    codes = await _all_ready(harness)
    found = await stored(harness, sent)
    missing = [e for e in sent if found.get(e, 0) == 0]
    opened = open_lessons(harness, f"pg{n}", 1)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if min((await posts(harness, opened)).values()) >= 1:
            break
        await asyncio.sleep(0.2)  # the bots' next reconciliation; bounded
    posted = min((await posts(harness, opened)).values())
    after = _pids(harness)
    drops = _synapse_drops(harness) - drops_before
    dropped = f"; Synapse dropped {drops} appservice batch(es)" if drops else ""
    return [
        Check("point", True, f"away {away:.1f} s while {MESSAGES} messages were sent{dropped}"),
        Check("no process restarted", after == before, f"{before} → {after}"),
        Check("every component ready again", set(codes.values()) == {200}, str(codes)),
        Check("every message reached the store", not missing, f"{len(missing)} missing"),
        Check("the bots still post lessons", posted == 1, f"{posted} posts"),
    ]
