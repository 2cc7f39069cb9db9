"""A sync killed mid-way (SIGKILL, no clean-up) converges on the next run, no duplicates.

The appservice daemon is killed at the same moment: while it is down the school
policy module refuses joins (fails closed), and after a restart the re-run
finishes the job.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.roster import load_roster
from appservice.store import Store
from kernel.ids import RoomID
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack
from synthetic.school import generate_school, write_oneroster

pytestmark = pytest.mark.integration


def parta(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "parta", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def bot_rooms(client: MatrixClient) -> set[RoomID]:
    data = await client.request("GET", "/_matrix/client/v3/joined_rooms")
    return {RoomID(r) for r in data["joined_rooms"]}


async def test_a_sync_killed_mid_way_converges_with_no_duplicate_room(
    stack: SchoolStack, store: Store, client: MatrixClient, tmp_path: Path
) -> None:
    roster = tmp_path / "roster"
    write_oneroster(generate_school(40, seed=7), roster)
    expected = {s.key for layout in layout_diary(load_roster(roster)) for s in layout.rooms}
    rooms_before = await bot_rooms(client)
    known_before = len(store.room_ids())

    first = parta("sync", str(roster), "-c", str(stack.config_path), "--eager")
    deadline = time.monotonic() + 120
    while len(store.room_ids()) < known_before + 5 and first.poll() is None:
        assert time.monotonic() < deadline, "the first sync never created five rooms"
        await asyncio.sleep(0.02)  # watching for progress, bounded by the deadline
    first.send_signal(signal.SIGKILL)
    assert stack.appservice is not None
    stack.appservice.send_signal(signal.SIGKILL)
    first.wait()
    stack.appservice.wait()
    stack.restart_appservice()
    assert len(store.room_ids()) < known_before + len(expected), "killed too late to prove much"

    second = parta("sync", str(roster), "-c", str(stack.config_path), "--eager", "--json")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    third = parta("sync", str(roster), "-c", str(stack.config_path), "--eager", "--json")
    out, err = third.communicate(timeout=600)
    assert third.returncode == 0, err
    assert json.loads(out)["writes"] == 0

    new_rooms = await bot_rooms(client) - rooms_before
    assert len(new_rooms) == len(expected)
    ids = store.room_ids()
    assert {ids[k] for k in expected} == new_rooms
