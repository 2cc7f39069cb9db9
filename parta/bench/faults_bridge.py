"""``bridge-call``: a worker of the call bridge killed -9 in the middle of a call.

::

    a class chat's teacher and a pupil in a call: real aiortc peers, the teacher's camera
    frames decoded at the pupil's end
      ─▶ kill -9 the worker that holds the call, at a random moment of it
      ─▶ both are told at once (the bridge's side of their signalling goes)
      ─▶ the front places the call again: a live worker; both join there, the pupil
         sees the teacher again; the front starts the killed worker anew
      ─▶ the chat's widget («идёт звонок») names the live worker; both leave
      ─▶ attendance keeps both stays of each; the widget is down

The tests of the bridge (``tests/integration/test_calls.py``) kill a worker once each; this
round does it as often as the harness runs, between the other kinds' faults.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from appservice.diary_sync.layout import lesson_room
from appservice.diary_sync.model import ClassKind, EnrollmentRole
from call_bridge.__main__ import RESTART_S
from call_bridge.attendance import AttendanceBook, Visit
from call_bridge.matrix_room import WIDGET_KEY, WIDGET_TYPE
from call_bridge.worker import attendance_url
from kernel.ids import RoomID, UserID
from kernel.matrix import MatrixClient
from parta.bench.call_peer import CallPeer, mint_openid, place, until
from parta.bench.faults_school import Check

if TYPE_CHECKING:
    from parta.bench.faults import Harness

HOLD_S = 3.0
"""The kill comes at a random moment of the call's first seconds, up to this long after the
pupil first saw the teacher."""
TOLD_S = 10.0
"""Both participants must learn of the loss within this long."""
BACK_S = RESTART_S[1] + 30.0
"""The killed worker must be in the front's pool again within this long of the kill: the
front waits 1 s before it starts a dead worker again, doubling (up to 30 s) while the worker
keeps dying young, as it does here, round after round; then the worker takes its time to
start on a busy machine."""


def worker_pid(front: int, index: int) -> int | None:
    """The bridge's worker process ``index`` (a child of the front ``front``); None if none."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent != front or b"call_bridge.worker" not in argv or b"-i" not in argv:
            continue
        if argv[argv.index(b"-i") + 1 :][:1] == [str(index).encode()]:
            return int(proc.name)
    return None


def widget_worker(widget: dict[str, Any]) -> object:
    """The worker a call's widget names (None: no widget, or none named)."""
    data = widget.get("data")
    return data.get("worker") if isinstance(data, dict) else None


async def widget_until(
    client: MatrixClient,
    room: RoomID,
    holds: Callable[[dict[str, Any]], bool],
    deadline_s: float = 30.0,
) -> bool:
    """Whether the call's widget in ``room`` comes to hold ``holds`` (bounded polling)."""
    deadline = time.monotonic() + deadline_s
    while True:
        widget = await client.state_event_or_empty(room, WIDGET_TYPE, WIDGET_KEY)
        if holds(widget):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)  # the bridge writes it when it does; bounded


async def stays_until(
    book: AttendanceBook, call: str, since: float, total: int, ended: int, deadline_s: float = 20
) -> list[Visit]:
    """The call's stays since ``since`` once there are ``total`` and ``ended`` of them have
    ended (bounded). A stay cut by a dead worker ends at its last note, maybe its start."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = [v for v in book.visits(call) if v.joined_at >= since]
        done = [v for v in found if v.left_at > v.joined_at]
        if (len(found) >= total and len(done) >= ended) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)  # the pool notes stays when it does; bounded


async def front_sees(url: str, workers: list[int], deadline_s: float = 30.0) -> bool:
    """Whether the front's ``/health`` comes to list every worker of its pool (bounded)."""
    deadline = time.monotonic() + deadline_s
    async with httpx.AsyncClient(timeout=5) as front:
        while True:
            if (await front.get(f"{url}/health")).json().get("workers") == workers:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)  # the front restarts the worker when it does; bounded


async def host_and_guest(
    ws_url: str,
    call: str,
    host: dict[str, str],
    guest: dict[str, str],
    peers: list[CallPeer],
) -> tuple[CallPeer, CallPeer]:
    """A host (camera on) and a guest (no camera) join at ``ws_url`` with their OpenID tokens;
    back once the guest decodes the host's camera. Both go into ``peers`` first, so that the
    caller closes them whatever happens."""
    first, second = CallPeer(ws_url, call, host), CallPeer(ws_url, call, guest)
    peers.extend((first, second))
    await first.join()
    await first.publish(shade=90)
    await second.join()
    await second.publish(shade=None)
    you = first.welcome["you"]
    await until(lambda: bool((r := second.video_from(you)) and r.frames > 10))
    return first, second


def pick_call(harness: Harness) -> tuple[RoomID, UserID, UserID]:
    """A homeroom's chat of the school as it stands, its class teacher and one of its pupils."""
    diary, rooms = harness.diary, harness.store.room_ids()
    found = []
    for klass in sorted(diary.classes.values(), key=lambda c: c.id):
        key = lesson_room(diary, klass.id) if klass.kind is ClassKind.HOMEROOM else None
        teacher = diary.class_teacher(klass.id)
        pupils = sorted(diary.members_of(klass.id, EnrollmentRole.STUDENT))
        if key in rooms and teacher is not None and pupils:
            found.append((rooms[key], teacher, pupils))
    if not found:
        raise RuntimeError("no homeroom chat with a class teacher and a pupil")
    room, teacher, pupils = harness.rng.choice(found)
    pupil = harness.rng.choice(pupils)
    return room, harness.school.puppet_id(teacher), harness.school.puppet_id(pupil)


async def bridge_during_call(harness: Harness, n: int) -> list[Check]:
    stack = harness.stack
    if stack.bridge is None:
        raise RuntimeError("this stack runs no call bridge")
    front = stack.bridge.pid
    room, teacher, pupil = pick_call(harness)
    call = f"room/{room}"
    since = time.time()
    peers: list[CallPeer] = []
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url, timeout=30) as http:

        async def in_call(ws_url: str) -> tuple[CallPeer, CallPeer]:
            tokens = [await mint_openid(harness.client, http, u) for u in (teacher, pupil)]
            return await host_and_guest(ws_url, call, tokens[0], tokens[1], peers)

        try:
            ws_url, worker = await place(stack, call)
            killed = worker_pid(front, worker)
            if killed is None:
                raise RuntimeError(f"no process for worker {worker}")
            t1, s1 = await in_call(ws_url)
            hold = harness.rng.uniform(0.0, HOLD_S)
            await asyncio.sleep(hold)  # the fault's random moment in the call
            os.kill(killed, signal.SIGKILL)
            killed_at = time.monotonic()
            told = await _within(lambda: t1.cut_off and s1.cut_off, TOLD_S)
            ws_url, placed = await place(stack, call)
            live = worker_pid(front, placed)
            t2, s2 = await in_call(ws_url)  # raises if they cannot: the round fails
            left = BACK_S - (time.monotonic() - killed_at)
            back = await front_sees(stack.config.call_bridge_url, _pool(harness), left)
            back_s = time.monotonic() - killed_at
            named = await widget_until(harness.client, room, lambda w: widget_worker(w) == placed)
            for peer in (t2, s2):
                await peer.close()
            book = AttendanceBook(attendance_url(stack.config))
            try:
                stays = await stays_until(book, call, since, total=4, ended=2)
            finally:
                book.close()
            down = await widget_until(harness.client, room, lambda w: w == {})
        finally:
            for peer in reversed(peers):
                await peer.close()
    per_person = Counter(v.user for v in stays)
    return [
        Check("point", True, f"worker {worker} killed {hold:.1f} s into the call"),
        Check("both are told at once", told, f"within {TOLD_S:.0f} s: {told}"),
        Check(
            "placed again on a live worker",
            live is not None and live != killed,
            f"worker {placed}, process {live} (the killed one was {killed})",
        ),
        Check(
            "the killed worker is started again",
            back,
            f"{'' if back else 'not '}in the front's pool {back_s:.0f} s after the kill",
        ),
        Check("the widget names the live worker", named, f"worker {placed}"),
        Check(
            "attendance keeps both stays of each",
            per_person == {str(teacher): 2, str(pupil): 2},
            f"{dict(per_person)}",
        ),
        Check("the widget is down once they left", down),
    ]


def _pool(harness: Harness) -> list[int]:
    return list(range(harness.stack.config.call_bridge.workers))


async def _within(holds: Callable[[], bool], deadline_s: float) -> bool:
    try:
        await until(holds, deadline_s)
    except TimeoutError:
        return False
    return True
