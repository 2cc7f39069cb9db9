"""The lesson bot against the session's Synapse and diary: one lesson, one message."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from appservice.diary_sync.layout import lesson_room
from appservice.diary_sync.timetable import Timetable
from appservice.matrix import MatrixClient
from appservice.school_sync import SchoolSync, SyncOptions
from parta.ids import RoomAlias, RoomID, SourcedId
from parta.stack import SchoolStack
from tests.school import small_school
from web_client.store import DistanceLesson

PREFIX = "bot"


def _sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


async def _runs(stack: SchoolStack) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        status = (await http.get(f"http://127.0.0.1:{stack.config.bots.port}/health")).json()
    return int(status["runs"])


async def _two_more_runs(stack: SchoolStack) -> None:
    """Until a whole reconciliation has run after now (bounded, not a sleep)."""
    try:
        start = await _runs(stack)
    except httpx.TransportError:
        start = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if await _runs(stack) >= start + 2:
                return
        except httpx.TransportError:
            pass  # restarting
        await asyncio.sleep(0.1)
    raise AssertionError("the lesson bot did not run")


async def _lesson_events(
    client: MatrixClient, room: RoomID, lesson_id: str
) -> list[dict[str, Any]]:
    found = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/messages?dir=b&limit=50"
    )
    events = [e for e in found.get("chunk", []) if e.get("type") == "m.room.message"]
    originals = [
        e for e in events if e["content"].get("org.parta.lesson", {}).get("lesson_id") == lesson_id
    ]
    ids = {e["event_id"] for e in originals}
    edits = [
        e
        for e in events
        if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") in ids
    ]
    return originals + edits


async def test_the_lesson_bot_posts_once_across_a_restart_and_follows_moves_and_cancels(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync
) -> None:
    diary = small_school(PREFIX)
    await school.run(diary, SyncOptions())
    zone = ZoneInfo(stack.config.diary.timezone)
    now = datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)
    starts = now + timedelta(hours=3)
    lesson_id = f"{_sid('math')}@{starts.date().isoformat()}"
    store = stack.open_diary_store()
    try:
        store.load(diary, Timetable())
        store.add_distance_lesson(
            DistanceLesson(
                lesson_id,
                _sid("5a-math"),
                starts,
                starts + timedelta(minutes=40),
                "Математика",
                _sid("t4"),
            ),
            now,
        )
        room = await client.resolve_alias(
            RoomAlias(f"#{lesson_room(diary, _sid('5a-math'))}:{stack.config.server_name}")
        )
        assert room is not None
        await _two_more_runs(stack)
        posted = await _lesson_events(client, room, lesson_id)
        assert len(posted) == 1
        body = posted[0]["content"]["body"]
        assert body.startswith(f"Дистанционный урок: Математика {starts.day} ")
        assert f"{starts:%H:%M}–" in body
        assert f"/lesson/{quote(lesson_id)}" in body or f"/lesson/{lesson_id}" in body

        stack.stop_bots()
        stack.start_bots()
        await _two_more_runs(stack)
        assert len(await _lesson_events(client, room, lesson_id)) == 1  # still one message

        later = starts + timedelta(hours=1)
        store.move_distance_lesson(lesson_id, later, later + timedelta(minutes=40))
        await _two_more_runs(stack)
        events = await _lesson_events(client, room, lesson_id)
        edits = [e for e in events if "m.new_content" in e["content"]]
        assert len(edits) == 1
        assert f"{later:%H:%M}–" in edits[0]["content"]["m.new_content"]["body"]

        store.cancel_distance_lesson(lesson_id)
        await _two_more_runs(stack)
        events = await _lesson_events(client, room, lesson_id)
        newest = [
            e["content"]["m.new_content"]["body"] for e in events if "m.new_content" in e["content"]
        ]
        assert any(b.startswith("Отменён: Дистанционный урок: Математика") for b in newest)
        assert len([e for e in events if "m.new_content" not in e["content"]]) == 1
    finally:
        store.close()
