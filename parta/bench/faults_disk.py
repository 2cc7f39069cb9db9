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
import subprocess
import time
from pathlib import Path

from appservice.server import HOLD_S
from parta.bench.faults import Harness
from parta.bench.faults_school import Check, stored

MESSAGES_MAX = 400
PADDING = 20_000
"""Cyrillic letters, two bytes each: a 40 KB message (Synapse takes up to 64 KB)."""
HEADROOM_MB = 32
"""Free room on the store's disk before each round fills it: the harness reads the store
too, and each round leaves its messages there."""
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


def make_room(disk: Path, headroom_mb: int = HEADROOM_MB) -> None:
    """Grow the tmpfs so that ``headroom_mb`` is free again (a remount keeps its files);
    it never shrinks."""
    st = os.statvfs(disk)
    size_mb = st.f_blocks * st.f_frsize // (1 << 20)
    used_mb = -(-(st.f_blocks - st.f_bfree) * st.f_frsize // (1 << 20))
    subprocess.run(  # noqa: S603 - fixed arguments
        ["mount", "-o", f"remount,size={max(size_mb, used_mb + headroom_mb)}m", str(disk)],  # noqa: S607
        check=True,
        capture_output=True,
    )


async def empty_log(harness: Harness) -> bool:
    """Checkpoint the store's write-ahead log and cut it to nothing, so that the first write
    after the fill needs new room. SQLite keeps the log at its largest size and writes into
    it again, so without this, each round's burst lets more messages through the next full
    disk (14 in round 2, 400 by round 62). False if readers kept it busy throughout."""
    for _ in range(50):
        with harness.store.engine.connect() as c:
            busy = c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
        if busy == 0:
            return True
        await asyncio.sleep(0.1)  # a reader holds the log for one request; bounded
    return False


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
        make_room(disk)
    except subprocess.CalledProcessError as e:
        return [Check("the store's disk grows for the round", False, e.stderr.decode()[:200])]
    emptied = await empty_log(harness)
    try:
        filler = fill(disk)
    except OSError as e:
        return [Check("the store's disk fills", False, str(e))]
    sent: list[str] = []
    held = 0
    try:
        # the first write into the emptied log needs room; keep writing until one is held
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
        Check("the store's log is emptied before the fill", emptied, "busy throughout"),
        Check("a transaction held, then refused, while full", refused > 0, f"{refused} refused"),
        Check("every message arrives once space is back", not missing, f"{len(missing)} lost"),
    ]
