"""``bots-post``: the bots process killed -9 between posting a lesson and remembering it.

Three distance lessons are opened in the diary at once; the bots post each in its group's
chat. The moment the k-th post (k at random) shows in Matrix the process is killed, so
some posts are made but maybe not yet written in its book. After a restart, and two whole
reconciliations more, each lesson must have exactly one post.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from appservice.diary_sync.layout import lesson_room
from appservice.diary_sync.model import ClassKind, EnrollmentRole
from kernel.ids import RoomID, SourcedId
from parta.bench.faults import Harness
from parta.bench.faults_school import Check
from web_client.store import DiaryStore, DistanceLesson

LESSONS = 3
DEADLINE_S = 60.0


def _groups(harness: Harness) -> list[tuple[SourcedId, SourcedId, RoomID]]:
    """Subject groups with a teacher and a chat: (group, teacher, chat)."""
    known = harness.store.room_ids()
    teachers = {
        e.class_id: e.person_id
        for e in harness.diary.enrollments
        if e.role is EnrollmentRole.TEACHER
    }
    found = []
    for cid, klass in sorted(harness.diary.classes.items()):
        key = lesson_room(harness.diary, cid)
        if klass.kind is ClassKind.SCHEDULED and cid in teachers and key in known:
            found.append((cid, teachers[cid], known[key]))
    return found


def open_lessons(harness: Harness, tag: str, count: int = LESSONS) -> dict[str, RoomID]:
    """``count`` distance lessons three hours from now; their ids and chats."""
    zone = ZoneInfo(harness.stack.config.diary.timezone)
    now = datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)
    picked = harness.rng.sample(_groups(harness), count)
    opened: dict[str, RoomID] = {}
    diary = DiaryStore.open(harness.stack.config.diary_store_url())
    try:
        for i, (group, teacher, chat) in enumerate(picked):
            starts = now + timedelta(hours=3, minutes=i)
            lesson = f"{group}-fault-{tag}@{starts.date().isoformat()}"
            ends = starts + timedelta(minutes=40)
            diary.add_distance_lesson(
                DistanceLesson(lesson, group, starts, ends, "Кружок", teacher), now
            )
            opened[lesson] = chat
    finally:
        diary.close()
    return opened


async def posts(harness: Harness, opened: dict[str, RoomID]) -> dict[str, int]:
    counts = dict.fromkeys(opened, 0)
    for chat in set(opened.values()):
        for e in await harness.client.messages(chat, limit=100):
            content = e.get("content", {})
            lesson = content.get("org.parta.lesson", {})
            if (
                isinstance(lesson, dict)
                and lesson.get("lesson_id") in counts
                and "m.new_content" not in content
            ):
                counts[lesson["lesson_id"]] += 1
    return counts


async def _runs(harness: Harness) -> int:
    bots = harness.stack.config.bots
    async with httpx.AsyncClient(timeout=5) as http:
        return int((await http.get(f"http://{bots.bind_host}:{bots.port}/health")).json()["runs"])


async def bots_between_posting_and_remembering(harness: Harness, n: int) -> list[Check]:
    opened = open_lessons(harness, str(n))
    k = harness.rng.randint(1, LESSONS)
    deadline = time.monotonic() + DEADLINE_S
    while sum(1 for c in (await posts(harness, opened)).values() if c) < k:
        if time.monotonic() > deadline:
            return [Check("the bots post lessons", False, "no post within a minute")]
        await asyncio.sleep(0.01)  # watching for the post, bounded by the deadline
    stack = harness.stack
    assert stack.bots is not None  # noqa: S101 - the stack is running
    stack.bots.send_signal(signal.SIGKILL)
    stack.bots.wait()
    stack.start_bots()
    while min((await posts(harness, opened)).values()) < 1:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)  # the restarted bots post the rest; bounded
    start = await _runs(harness)
    while time.monotonic() < deadline + DEADLINE_S:
        if await _runs(harness) >= start + 2:
            break
        await asyncio.sleep(0.1)  # two whole reconciliations after the restart; bounded
    counts = await posts(harness, opened)
    wrong = {lesson: c for lesson, c in counts.items() if c != 1}
    return [
        Check("point", True, f"killed when {k} of {LESSONS} posts showed"),
        Check("exactly one post per lesson", not wrong, str(wrong)),
    ]
