"""The call's chat: its rate, its frames, and what reaches the room for someone of another
server (posted by the bot under the Matrix id, only where the room's levels allow)."""

from __future__ import annotations

import json

import httpx
import pytest

from call_bridge.chat import BURST, Bucket, Rates
from call_bridge.frames import MAX_DEPTH, MAX_REASON, ProtocolViolation, parse_frame
from call_bridge.matrix_room import CHAT_FIELD, CallRoom
from kernel.ids import RoomID, UserID


def test_a_burst_then_one_line_a_second() -> None:
    clock = {"now": 0.0}
    bucket = Bucket(lambda: clock["now"])
    assert [bucket.take() for _ in range(BURST + 1)] == [True] * BURST + [False]
    clock["now"] = 0.5
    assert not bucket.take()
    clock["now"] = 1.0
    assert bucket.take()
    clock["now"] = 60.0
    assert sum(bucket.take() for _ in range(20)) == BURST  # the bucket never overfills


def test_a_person_s_bucket_is_shared_by_their_connections_and_outlives_them() -> None:
    """Two tabs, or leaving and joining again, buy no more lines; others keep their own."""
    clock = {"now": 0.0}
    rates = Rates(lambda: clock["now"])
    first_tab = [rates.take("@s1:school") for _ in range(BURST)]
    assert first_tab == [True] * BURST
    assert not rates.take("@s1:school")  # the second tab, or the same person back again
    assert rates.take("@s2:school")  # somebody else
    clock["now"] = 1.0
    assert rates.take("@s1:school")
    assert not rates.take("@s1:school")
    clock["now"] = 100.0
    assert rates.take("@s1:school")
    assert len(rates) == 1  # full buckets are forgotten: the map holds only who spoke lately


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "websocket.receive", "bytes": b"x"}, 1003),
        (
            {"type": "websocket.receive", "text": "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)},
            1007,
        ),
        ({"type": "websocket.receive", "text": "nope"}, 1007),
        ({"type": "websocket.receive", "text": "[]"}, 1008),
        ({"type": "websocket.receive", "text": '{"type": null}'}, 1008),
    ],
)
def test_frames_that_are_not_messages(frame: dict[str, object], code: int) -> None:
    with pytest.raises(ProtocolViolation) as refused:
        parse_frame(frame)
    assert refused.value.code == code
    assert refused.value.reason


def test_a_close_reason_fits_a_close_frame_whole_characters_only() -> None:
    reason = ProtocolViolation(1007, "я" * 100).reason  # 200 bytes of UTF-8
    assert len(reason.encode()) <= MAX_REASON
    assert reason == "я" * (MAX_REASON // 2)


def test_brackets_inside_strings_are_not_depth() -> None:
    text = json.dumps({"type": "chat", "text": "[" * 500})
    assert parse_frame({"type": "websocket.receive", "text": text})["text"] == "[" * 500


ROOM = RoomID("!class:school.test")
REMOTE = UserID("@teacher:other.example")


def _homeserver(
    levels: dict[str, object], posted: list[dict[str, object]], membership: str = "join"
) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/state/m.room.power_levels/"):
            return httpx.Response(200, json=levels)
        if path.endswith(f"/state/m.room.member/{REMOTE}"):
            return httpx.Response(200, json={"membership": membership})
        if path.endswith("/state/m.room.create/"):
            return httpx.Response(200, json={"sender": "@bot:school.test",
                                             "content": {"room_version": "12"}})  # fmt: skip
        if "/send/m.room.message/" in path:
            assert "user_id" not in request.url.params  # the bot itself, never a masquerade
            posted.append(json.loads(request.content))
            return httpx.Response(200, json={"event_id": "$1"})
        return httpx.Response(404, json={"errcode": "M_NOT_FOUND"})

    return httpx.MockTransport(answer)


async def test_a_line_from_another_server_carries_its_matrix_id_where_it_may_be_said() -> None:
    posted: list[dict[str, object]] = []
    levels = {"users": {REMOTE: 60}, "events_default": 0}
    room = CallRoom("http://hs", "as", UserID("@bot:school.test"), _homeserver(levels, posted))
    assert await room.mirror(ROOM, REMOTE, "Коллеги, добрый день")
    assert posted[0]["body"] == f"{REMOTE} (из звонка): Коллеги, добрый день"
    assert posted[0][CHAT_FIELD] == {"sender": REMOTE}
    await room.aclose()


async def test_a_line_from_another_server_where_it_may_not_be_said_stays_in_the_call() -> None:
    posted: list[dict[str, object]] = []
    levels = {"users": {}, "events_default": 60}  # announcements: staff only
    room = CallRoom("http://hs", "as", UserID("@bot:school.test"), _homeserver(levels, posted))
    assert not await room.mirror(ROOM, REMOTE, "Внимание: уроки отменены")
    assert posted == []
    await room.aclose()


@pytest.mark.parametrize("membership", ["leave", "ban", "invite"])
async def test_a_line_from_another_server_who_left_the_room_stays_in_the_call(
    membership: str,
) -> None:
    """Removed from the seminar's room during the call: the bot says nothing more for them."""
    posted: list[dict[str, object]] = []
    levels = {"users": {}, "events_default": 0}
    room = CallRoom(
        "http://hs", "as", UserID("@bot:school.test"), _homeserver(levels, posted, membership)
    )
    assert not await room.may_post(ROOM, REMOTE)
    assert not await room.mirror(ROOM, REMOTE, "Я ещё здесь")
    assert posted == []
    await room.aclose()
