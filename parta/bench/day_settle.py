"""The morning after the night: Synapse's user directory caught up on the school's sync.

A school is synced before its first day. Synapse then works through every join of that sync
in its user directory, on its main process: each join into a room of n people pairs the
joiner with the n others (``users_who_share_private_rooms``), so the whole-school
announcements room alone is about n² checks and rows. For a school of 1,000 this lasts tens
of minutes after the sync. A day started right after the sync measures that backlog as well
as the day, so the benchmark waits for it first (``--no-settle``: it does not).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kernel.config import SchoolConfig
from parta.bench.synapse_db import synapse_row

DIRECTORY = (
    "SELECT (SELECT stream_id FROM user_directory_stream_pos),"
    " (SELECT max(stream_ordering) FROM events)"
)
"""Where the user directory has read the event stream up to, and where the stream is."""
POLL_S = 2.0
SAY_EVERY_S = 60.0


async def settle(
    config: SchoolConfig, limit_s: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """Wait until the user directory has read every event made so far (at most ``limit_s``).

    Returns ``settle_s`` (how long it took) and ``settled`` (false: the limit came first,
    with ``directory_behind``: the stream positions still to read).
    """
    started = time.monotonic()
    _, target = await asyncio.to_thread(synapse_row, config, DIRECTORY)
    said = started
    while True:
        position, _ = await asyncio.to_thread(synapse_row, config, DIRECTORY)
        waited = time.monotonic() - started
        read = position if position is not None else 0
        if read >= target:
            return {"settle_s": round(waited, 1), "settled": True}
        if waited >= limit_s:
            behind = target - read
            return {"settle_s": round(waited, 1), "settled": False, "directory_behind": behind}
        if time.monotonic() - said >= SAY_EVERY_S:
            say(f"settle: Synapse's user directory at {read} of {target} after {waited:.0f} s")
            said = time.monotonic()
        await asyncio.sleep(POLL_S)
