"""``store-disk-full``: the appservice's store disk fills while messages arrive.

The store must refuse the transactions (Synapse keeps them and retries) rather than
acknowledge them and lose them: with the disk full, the appservice holds a transaction for
``HOLD_S`` and then answers it with an error; once space is back, every message arrives,
once.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path

from appservice.server import HOLD_S
from parta.bench.faults import Harness
from parta.bench.faults_school import Check, stored

MESSAGES_MAX = 400
PADDING = 20_000
"""Cyrillic letters, two bytes each: a 40 KB message (Synapse takes up to 64 KB)."""
FAILED = b"store unavailable"
HELD = b"store away, holding"


def fill(disk: Path) -> Path:
    """A file that takes every free byte of ``disk`` (unbuffered: no write is left over)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


def _log_size(harness: Harness) -> int:
    log = harness.stack.config.state_dir / "appservice.log"
    return log.stat().st_size if log.exists() else 0


def _logged(harness: Harness, since: int, line: bytes = FAILED) -> int:
    """How often the appservice logged ``line`` after byte ``since`` of its log (only that
    part is read)."""
    log = harness.stack.config.state_dir / "appservice.log"
    if not log.exists():
        return 0
    with log.open("rb") as f:
        f.seek(since)
        return f.read().count(line)


async def _refused_since(harness: Harness, since: int) -> int:
    """Refusals since byte ``since``, once the held transaction's time is up (bounded)."""
    deadline = time.monotonic() + HOLD_S + 10.0
    while time.monotonic() < deadline:
        if _logged(harness, since) > 0:
            break
        await asyncio.sleep(0.1)  # the hold ends within HOLD_S; bounded
    return _logged(harness, since)


async def full_store_disk(harness: Harness, n: int) -> list[Check]:
    disk = harness.stack.config.state_dir / "store-disk"
    if not disk.is_mount():
        return [Check("the store has a disk of its own to fill", False, "no tmpfs (not root?)")]
    key = harness.rng.choice(sorted(harness.store.room_ids()))
    room = harness.store.room_ids()[key]
    sender = harness.school.bot  # may post in every room, announcements too
    log_from = _log_size(harness)
    try:
        filler = fill(disk)
    except OSError as e:
        return [Check("the store's disk fills", False, str(e))]
    sent: list[str] = []
    held = 0
    try:
        # SQLite's log reuses the room it already has: keep writing until a write needs more
        while len(sent) < MESSAGES_MAX and held == 0:
            i = len(sent)
            body = {"msgtype": "m.text", "body": f"Диск полон {n}.{i} " + "ж" * PADDING}
            sent.append(await harness.client.send_message(room, body, f"disk-{n}-{i}", sender))
            held = _logged(harness, log_from, HELD)
        refused = await _refused_since(harness, log_from)
    finally:
        filler.unlink()
    after = await stored(harness, sent)
    missing = [e for e in sent if after.get(e, 0) == 0]
    return [
        Check("point", held > 0, f"{len(sent)} messages of {PADDING * 2 // 1024} KB sent"),
        Check("a transaction held, then refused, while full", refused > 0, f"{refused} refused"),
        Check("every message arrives once space is back", not missing, f"{len(missing)} lost"),
    ]
