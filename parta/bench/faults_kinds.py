"""The faults, one function a kind: busy the school, kill at a random point, check.

- ``appservice-sync``: a ``parta sync`` of a changed diary, and the appservice, killed -9
  while the sync applies it; the re-run converges with no duplicate room and exactly the
  diary's memberships.
- ``appservice-transactions``: the appservice killed -9 while Synapse pushes it a stream of
  messages; after the restart every message is in its store once.
- ``synapse-sync``: Synapse killed -9 while a sync applies a changed diary and restarted at
  once (as its supervisor would); the sync waits for it, finishes, and the school holds.

The other kinds live in modules of their own (``faults_link``, ``faults_bots``,
``faults_diary``, ``faults_disk``, ``faults_postgres``, ``faults_bridge``).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

from appservice.diary_sync.model import Diary
from parta.bench.faults import Fault, Harness
from parta.bench.faults_bots import bots_between_posting_and_remembering
from parta.bench.faults_bridge import bridge_during_call
from parta.bench.faults_diary import diary_during_link
from parta.bench.faults_disk import full_store_disk
from parta.bench.faults_link import synapse_during_link
from parta.bench.faults_postgres import postgres_restart
from parta.bench.faults_school import Check, converge, mutate, rooms_hold, stored
from synthetic.school import GeneratedSchool, write_oneroster

MESSAGES = 30


def _sync(harness: Harness) -> tuple[subprocess.Popen[str], Diary]:
    harness.changes += 1
    diary = mutate(harness.diary, harness.rng, harness.changes)
    roster = harness.work / f"roster-{harness.changes}"
    write_oneroster(GeneratedSchool(diary), roster)
    config = str(harness.stack.config_path)
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "parta", "sync", str(roster), "-c", config, "--eager"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, diary


async def _applying(
    harness: Harness, sync: subprocess.Popen[str], diary: Diary, before: int
) -> str:
    """Until the sync has saved the new diary and made a random number of its new rooms
    (the fault's random point), or has finished; says where that was."""
    rooms = len(harness.store.room_ids())
    new = len(harness.school.desired(diary, eager=True).rooms) - rooms
    made = harness.rng.randrange(max(new, 1))
    deadline = time.monotonic() + 120
    while sync.poll() is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the sync did not get on with the new diary")
        saved = harness.store.generations()[0] != before
        if saved and len(harness.store.room_ids()) >= rooms + made:
            break
        await asyncio.sleep(0.01)  # watching for progress, bounded by the deadline
    await asyncio.sleep(harness.rng.uniform(0.0, 0.1))  # not always on a room's heels
    return f"after {made} of {new} new rooms"


def _point(sync: subprocess.Popen[str], where: str) -> Check:
    """Whether the fault came while the sync was still at work (the case that matters)."""
    finished = sync.poll() is not None
    return Check("point", not finished, f"{where}{', the sync had finished' if finished else ''}")


async def appservice_during_sync(harness: Harness, n: int) -> list[Check]:
    before = harness.store.generations()[0]
    sync, diary = _sync(harness)
    point = _point(sync, await _applying(harness, sync, diary, before))
    stack = harness.stack
    assert stack.appservice is not None  # noqa: S101 - the stack is running
    sync.send_signal(signal.SIGKILL)
    stack.appservice.send_signal(signal.SIGKILL)
    sync.communicate()
    stack.appservice.wait()
    stack.restart_appservice()
    harness.diary = diary
    checks = [point, *await converge(harness.school, harness.diary)]
    return checks + await rooms_hold(harness.school, harness.store, harness.client, harness.diary)


async def synapse_during_sync(harness: Harness, n: int) -> list[Check]:
    before = harness.store.generations()[0]
    sync, diary = _sync(harness)
    point = _point(sync, await _applying(harness, sync, diary, before))
    synapse = harness.stack.synapse
    assert synapse is not None  # noqa: S101 - the stack is running
    synapse.crash()
    synapse.start()  # at once, as its supervisor would
    await asyncio.to_thread(synapse.wait_ready)
    _, err = await asyncio.to_thread(sync.communicate, timeout=600)
    last = (err.strip().splitlines() or [""])[-1]
    harness.diary = diary
    checks = [
        point,
        Check("the sync rides out the restart", sync.returncode == 0, last),
        Check("and says nothing it should not", "Traceback" not in err, last),
        *await converge(harness.school, harness.diary),
    ]
    return checks + await rooms_hold(harness.school, harness.store, harness.client, harness.diary)


async def appservice_during_transactions(harness: Harness, n: int) -> list[Check]:
    key = harness.rng.choice(sorted(harness.store.room_ids()))
    room = harness.store.room_ids()[key]
    sender = harness.school.bot  # may post in every room, announcements too
    kill_at = harness.rng.randrange(MESSAGES)
    sent: list[str] = []
    stack = harness.stack
    for i in range(MESSAGES):
        if i == kill_at:
            assert stack.appservice is not None  # noqa: S101 - the stack is running
            stack.appservice.send_signal(signal.SIGKILL)
            stack.appservice.wait()
            stack.restart_appservice()
        body = {"msgtype": "m.text", "body": f"Сообщение {n}.{i}"}
        sent.append(await harness.client.send_message(room, body, f"fault-{n}-{i}", sender))
    found = await stored(harness, sent)
    missing = [e for e in sent if found.get(e, 0) == 0]
    twice = [e for e in sent if found.get(e, 0) > 1]
    return [
        Check("point", True, f"killed before message {kill_at + 1} of {MESSAGES}"),
        Check("every message reached the store", not missing, f"{len(missing)} missing"),
        Check("each message stored once", not twice, f"{len(twice)} twice"),
    ]


KINDS: dict[str, Fault] = {
    "appservice-sync": appservice_during_sync,
    "appservice-transactions": appservice_during_transactions,
    "synapse-sync": synapse_during_sync,
    "synapse-link": synapse_during_link,
    "bots-post": bots_between_posting_and_remembering,
    "diary-link": diary_during_link,
    "store-disk-full": full_store_disk,
    "postgres-restart": postgres_restart,
    "bridge-call": bridge_during_call,
}

ONLY_ON = {"store-disk-full": "sqlite", "postgres-restart": "postgres"}
"""The store's own small disk is a SQLite file's; a database restart is PostgreSQL's."""


def kinds_for(database: str) -> dict[str, Fault]:
    return {k: f for k, f in KINDS.items() if ONLY_ON.get(k, database) == database}
