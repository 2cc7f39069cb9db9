"""The call bridge holds the school's rules: the chat says nothing where its author may not,
nobody floods it, and no frame a stranger sends makes a worker stumble."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.school_sync import SchoolSync, SyncOptions
from call_bridge.chat import BURST, TOO_FAST
from call_bridge.frames import MAX_FRAME
from call_bridge.matrix_room import CHAT_FIELD
from kernel.ids import RoomAlias, RoomID, SourcedId
from kernel.matrix import MatrixClient
from parta.bench.call_peer import CallPeer, mint_openid, place, until
from parta.stack import SchoolStack
from tests.school import small_school

pytestmark = pytest.mark.integration

PREFIX = "cs"


def _sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


@pytest.fixture(scope="module")
async def synced(school: SchoolSync) -> SchoolSync:
    await school.run(small_school(PREFIX), SyncOptions(eager=True))
    return school


async def _room(client: MatrixClient, stack: SchoolStack, kind: RoomKind, code: str = "") -> RoomID:
    key = room_key(_sid("org"), kind, _sid(code) if code else "")
    room = await client.resolve_alias(RoomAlias(f"#{key}:{stack.config.server_name}"))
    assert room is not None
    return room


async def _peer(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient,
    call: str, who: str,
) -> CallPeer:  # fmt: skip
    ws_url, _ = await place(stack, call)
    peer = CallPeer(ws_url, call, await mint_openid(client, http, synced.puppet_id(_sid(who))))
    await peer.join()
    await peer.publish(shade=None)  # answers the bridge's offer, so its messages are read
    return peer


async def _said(client: MatrixClient, room: RoomID, text: str) -> list[dict[str, Any]]:
    return [e for e in await client.messages(room, 100) if text in str(e["content"].get("body"))]


async def test_a_student_in_the_announcements_call_cannot_post_there_by_the_chat(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient
) -> None:
    announcements = await _room(client, stack, RoomKind.ANNOUNCEMENTS)
    call = f"room/{announcements}"
    student = await _peer(stack, client, synced, http, call, "s1")
    teacher = await _peer(stack, client, synced, http, call, "t1")
    try:
        assert student.welcome["chat_mirrored"] is False  # the page says so
        assert teacher.welcome["chat_mirrored"] is True
        name = (await client.state_event(announcements, "m.room.name"))["name"]
        assert student.welcome["title"] == f"Звонок: {name}"  # the page names the chat
        forged = "Внимание: уроки завтра отменены"
        await student.say({"type": "chat", "text": forged})
        await until(lambda: any(m.get("text") == forged for m in teacher.messages))
        heard = next(m for m in teacher.messages if m.get("text") == forged)
        assert heard["user"] == synced.puppet_id(_sid("s1"))  # the Matrix id, whatever the name
        await teacher.say({"type": "chat", "text": "Собрание в пятницу"})
        said = await _until_said(client, announcements, "Собрание в пятницу")
        assert said[0]["sender"] == synced.puppet_id(_sid("t1"))  # as the teacher herself
        assert said[0]["content"][CHAT_FIELD]["sender"] == synced.puppet_id(_sid("t1"))
        assert await _said(client, announcements, forged) == []  # not by her, not by the bot
    finally:
        await student.close()
        await teacher.close()


async def _until_said(
    client: MatrixClient, room: RoomID, text: str, count: int = 1
) -> list[dict[str, Any]]:
    """Polls the room until ``count`` messages hold ``text`` (bounded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = await _said(client, room, text)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never reached the room {count} times")


async def _newer_than(client: MatrixClient, room: RoomID, marker: str) -> list[str]:
    """Bodies of the room's messages after ``marker``, newest first."""
    bodies = [str(e["content"].get("body")) for e in await client.messages(room, 100)]
    return bodies[: bodies.index(marker)]


async def _until_dropped(stack: SchoolStack, worker: int, call: str) -> None:
    url = f"http://127.0.0.1:{stack.config.call_bridge.port + 1 + worker}/calls"
    token = stack.config.bridge_token_file.read_text().strip()
    async with httpx.AsyncClient(timeout=10) as http:

        async def held() -> bool:
            answer = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            return call in answer.json()["calls"]

        deadline = time.monotonic() + 20
        while await held():
            assert time.monotonic() < deadline, f"{call} was never dropped"
            await asyncio.sleep(0.1)


async def test_a_student_alone_in_the_announcements_call_makes_the_bot_say_nothing_there(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient
) -> None:
    """Opening a call is not a way into «Объявления» either: the widget and «идёт звонок»
    come when someone who may post there joins, not before."""
    announcements = await _room(client, stack, RoomKind.ANNOUNCEMENTS)
    call = f"room/{announcements}"
    marker = f"проверка {secrets.token_hex(4)}"
    await client.send_message(
        announcements, {"msgtype": "m.notice", "body": marker}, secrets.token_hex(8)
    )
    _, worker = await place(stack, call)
    student = await _peer(stack, client, synced, http, call, "s1")
    await student.close()
    await _until_dropped(stack, worker, call)
    teacher = await _peer(stack, client, synced, http, call, "t1")
    await teacher.close()
    deadline = time.monotonic() + 30

    def ended(said: list[str]) -> bool:  # newest first: the end after the teacher's call
        started = [i for i, b in enumerate(said) if "идёт звонок" in b]
        return bool(started) and any("звонок завершён" in b for b in said[: started[0]])

    while not ended(said := await _newer_than(client, announcements, marker)):
        assert time.monotonic() < deadline, f"the teacher's call never ended in the room: {said}"
        await asyncio.sleep(0.1)
    # the teacher's call, not hers (an earlier test's call may still be saying its end)
    assert sum("идёт звонок" in b for b in said) == 1, said


async def test_eighty_lines_at_once_reach_the_room_at_the_rate_allowed_and_the_sender_is_told(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient
) -> None:
    klass = await _room(client, stack, RoomKind.CLASS, "5a")
    teacher = await _peer(stack, client, synced, http, f"room/{klass}", "t1")
    try:
        for n in range(80):
            await teacher.say({"type": "chat", "text": f"строка {n:02d}"})

        def answered() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            lines = [m for m in teacher.messages if m["type"] == "chat"]
            refused = [m for m in teacher.messages if m.get("reason") == TOO_FAST]
            return lines, refused

        await until(lambda: sum(map(len, answered())) == 80)
        accepted, refused = answered()
        assert 1 <= len(accepted) <= BURST + 2  # the burst, and what a second refills
        assert len(refused) == 80 - len(accepted)  # each refused line is answered
        found = await _until_said(client, klass, "строка ", len(accepted))
        assert len(found) == len(accepted)
    finally:
        await teacher.close()


async def test_a_second_connection_of_the_same_person_buys_no_more_lines(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient
) -> None:
    """The pace is the person's, not the tab's: two connections share one bucket."""
    staff = await _room(client, stack, RoomKind.STAFF)
    call = f"room/{staff}"
    tabs = [await _peer(stack, client, synced, http, call, "t1") for _ in range(2)]
    try:
        for n in range(2 * BURST):
            for tab, each in enumerate(tabs):
                await each.say({"type": "chat", "text": f"вкладка {tab} строка {n}"})

        def lines() -> set[str]:
            return {m["text"] for m in tabs[0].messages if m["type"] == "chat"}

        def refused() -> int:
            return sum(m.get("reason") == TOO_FAST for t in tabs for m in t.messages)

        await until(lambda: len(lines()) + refused() == 4 * BURST)
        assert len(lines()) <= BURST + 2  # one bucket's worth, not two
        found = await _until_said(client, staff, "вкладка ", len(lines()))
        assert len(found) == len(lines())
    finally:
        for each in tabs:
            await each.close()


async def _close_of(ws: websockets.ClientConnection) -> tuple[int | None, str]:
    """How the worker closes the connection (what it sends before is read and dropped)."""
    try:
        async with asyncio.timeout(20):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")


async def _raw(ws_url: str, first: str | bytes) -> tuple[int | None, str]:
    """Send one frame and read how the worker closes the connection."""
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(first)
        return await _close_of(ws)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x00\x01binary", 1003),
        ("[" * 150_000 + "]" * 150_000, 1009),  # too big before it is too deep
        ("x" * (8 * MAX_FRAME), 1009),  # past what the server reads at all
        ("[" * 100_000 + "]" * 100_000, 1007),  # the 100,000 nested lists
        ("[" * 5_000 + "]" * 5_000, 1007),
        ("{not json", 1007),
        ('["join"]', 1008),
        ('{"type": 5}', 1008),
    ],
)
async def test_a_frame_that_is_not_a_message_is_closed_with_a_code_and_a_reason(
    stack: SchoolStack, synced: SchoolSync, frame: str | bytes, code: int
) -> None:
    ws_url, _ = await place(stack, "room/!nowhere")
    log = stack.config.state_dir / "call_bridge.log"
    before = log.stat().st_size
    closed = await _raw(ws_url, frame)
    assert closed[0] == code, closed
    assert closed[1]  # a reason, always
    assert "Traceback" not in log.read_bytes()[before:].decode("utf-8", "replace")


async def test_a_token_that_is_not_an_object_is_refused_with_a_reason(
    stack: SchoolStack, synced: SchoolSync
) -> None:
    ws_url, _ = await place(stack, "room/!nowhere")
    log = stack.config.state_dir / "call_bridge.log"
    before = log.stat().st_size
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "join", "call": "room/!nowhere", "token": "abc"}))
        answer = json.loads(await ws.recv())
        assert answer["type"] == "refused"
        assert "OpenID" in answer["reason"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert "Traceback" not in log.read_bytes()[before:].decode("utf-8", "replace")


@pytest.mark.parametrize(
    "sdp",
    [
        "garbage",
        "v=0\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\na=rtpmap:x\r\nm=video x\r\n" + "a=ice-ufrag:" + "я" * 500 + "\r\n",
    ],
)
async def test_an_answer_whose_sdp_cannot_be_applied_is_closed_with_a_code_and_a_reason(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient, sdp: str
) -> None:
    klass = await _room(client, stack, RoomKind.CLASS, "5a")
    call = f"room/{klass}"
    ws_url, _ = await place(stack, call)
    log = stack.config.state_dir / "call_bridge.log"
    before = log.stat().st_size
    token = await mint_openid(client, http, synced.puppet_id(_sid("t1")))
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "join", "call": call, "token": token}))
        while json.loads(await ws.recv())["type"] != "offer":
            pass
        await ws.send(json.dumps({"type": "answer", "sdp": sdp}))
        code, reason = await _close_of(ws)
    assert code == 1007
    assert reason.startswith("the answer's SDP cannot be used")
    written = log.read_bytes()[before:].decode("utf-8", "replace")
    assert "Traceback" not in written
    assert token["access_token"] not in written  # nor the person's OpenID token


async def test_after_bad_frames_the_worker_still_serves_a_lesson(
    stack: SchoolStack, client: MatrixClient, synced: SchoolSync, http: httpx.AsyncClient
) -> None:
    klass = await _room(client, stack, RoomKind.CLASS, "5a")
    ws_url, _ = await place(stack, f"room/{klass}")
    for frame in (b"\xff", "[" * 5_000 + "]" * 5_000, "null"):
        await _raw(ws_url, frame)
    teacher = await _peer(stack, client, synced, http, f"room/{klass}", "t1")
    try:
        assert teacher.welcome["moderator"] is True
    finally:
        await teacher.close()


async def test_the_call_page_is_framed_only_by_the_bridge_the_diary_and_named_clients(
    stack: SchoolStack,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(f"{stack.config.call_bridge_url}/room/!somewhere:school")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    diary = urlsplit(stack.config.diary_url)
    assert policy["frame-ancestors"] == f"'self' {diary.scheme}://{diary.netloc}"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"] == "'self'"


async def test_an_address_the_bridge_does_not_serve_is_explained_in_russian(
    stack: SchoolStack,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.get(f"{stack.config.call_bridge_url}/nothing-here")
    assert missing.status_code == 404
    assert "Такой страницы нет" in missing.text
    assert "Not Found" not in missing.text
    assert "frame-ancestors" in missing.headers["content-security-policy"]


async def test_a_worker_tells_its_calls_only_to_the_bridge(stack: SchoolStack) -> None:
    url = f"http://127.0.0.1:{stack.config.call_bridge.port + 1}/calls"
    token = stack.config.bridge_token_file.read_text().strip()
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers={"Authorization": "Bearer forged"})).status_code == 401
        assert (
            await http.get(url, headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
