"""The executor after a homeserver fault: a homeserver that stops answering stops the sync's
steps (the first is reported unreachable, the rest not tried), and a room a killed homeserver
left half made is made again."""

from __future__ import annotations

from pathlib import Path

import httpx

from appservice.diary_sync.layout import RoomKey, RoomKind, RoomSpec
from appservice.diary_sync.plan import CreateRoom, RegisterPuppet
from appservice.executor import Executor, NotTried
from appservice.reader import read_actual
from appservice.store import Store
from kernel.ids import RoomID, ServerName, UserID
from kernel.matrix import HomeserverUnreachable, MatrixClient


async def test_the_steps_after_the_homeserver_went_silent_are_left_for_the_next_run(
    tmp_path: Path,
) -> None:
    asked: list[httpx.Request] = []

    def silent(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        raise httpx.ConnectError("refused")

    async def sleep(_seconds: float) -> None:
        return None

    client = MatrixClient("http://hs.test", "t", sleep=sleep, transport=httpx.MockTransport(silent))
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 0)
    try:
        steps = [RegisterPuppet(UserID(f"@parta.p{i}:hs.test"), f"P{i}") for i in range(40)]
        report = await Executor(client, store, ServerName("hs.test"), concurrency=1).execute(steps)
    finally:
        store.close()
    assert len(report.failed) == 40
    assert isinstance(report.failed[0][1], HomeserverUnreachable)
    assert all(isinstance(e, NotTried) for _, e in report.failed[1:])
    assert isinstance(report.gone, HomeserverUnreachable)
    assert len(asked) == 5  # one step's tries, not forty steps' worth


async def test_a_room_left_half_made_by_a_killed_homeserver_is_made_again(
    tmp_path: Path,
) -> None:
    """The alias points at a room with no power levels (Synapse died mid-createRoom): the
    sync takes the alias off it, leaves it, and makes the room again."""
    asked: list[tuple[str, str]] = []

    def homeserver(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        asked.append((request.method, path))
        if request.method == "GET" and "/directory/room/" in path:
            if ("DELETE", path) in asked:
                return httpx.Response(404, json={"errcode": "M_NOT_FOUND", "error": "x"})
            return httpx.Response(200, json={"room_id": "!half:hs.test"})
        if path.endswith("/state/m.room.power_levels/"):
            return httpx.Response(404, json={"errcode": "M_NOT_FOUND", "error": "no event"})
        if request.method == "POST" and path.endswith("/createRoom"):
            return httpx.Response(200, json={"room_id": "!whole:hs.test"})
        return httpx.Response(200, json={})

    client = MatrixClient("http://hs.test", "t", transport=httpx.MockTransport(homeserver))
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 0)
    try:
        await _made_again(client, store)
    finally:
        store.close()
    methods = [m for m, _ in asked]
    assert "DELETE" in methods  # the alias came off the half-made room
    assert ("POST", "/_matrix/client/v3/rooms/!half:hs.test/leave") in asked


def _no_bot_here(asked: list[tuple[str, str]]) -> httpx.MockTransport:
    """A homeserver where #5a's alias points at a room the bot is not in (Synapse died
    mid-createRoom before the bot's join was written): every read of it is 403."""
    forbidden = {"errcode": "M_FORBIDDEN", "error": "User @parta:hs.test not in room"}

    def homeserver(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        asked.append((request.method, path))
        if request.method == "GET" and "/directory/room/" in path:
            if ("DELETE", path) in asked:
                return httpx.Response(404, json={"errcode": "M_NOT_FOUND", "error": "x"})
            return httpx.Response(200, json={"room_id": "!nobot:hs.test"})
        if "/rooms/!nobot:hs.test/" in path and request.method == "GET":
            return httpx.Response(403, json=forbidden)
        if request.method == "POST" and path.endswith("/createRoom"):
            return httpx.Response(200, json={"room_id": "!whole:hs.test"})
        return httpx.Response(200, json={})

    return httpx.MockTransport(homeserver)


async def test_a_room_the_bot_cannot_read_is_read_as_missing_not_a_crash(tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []
    client = MatrixClient("http://hs.test", "t", transport=_no_bot_here(asked))
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 0)
    key = RoomKey("parta.org.parents.5a")
    try:
        stored = RoomKey("parta.org.class.5a")
        store.save_room(stored, RoomID("!nobot:hs.test"))  # recorded, then the bot was gone
        bot = UserID("@parta:hs.test")
        actual = await read_actual(client, store, ServerName("hs.test"), bot, [key, stored])
        assert actual.rooms == {}  # both are made again by the sync, neither raised
        assert key not in store.room_ids()  # the half-made room was not adopted
    finally:
        store.close()


async def test_a_room_left_without_the_bot_s_join_is_made_again(tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []
    client = MatrixClient("http://hs.test", "t", transport=_no_bot_here(asked))
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 0)
    try:
        await _made_again(client, store)
    finally:
        store.close()
    assert "DELETE" in [m for m, _ in asked]  # the alias came off the room without the bot


async def _made_again(client: MatrixClient, store: Store) -> None:
    """Creating 5A's parents' chat, whose alias points at a broken room, ends in a new room."""
    spec = RoomSpec(
        RoomKey("parta.org.parents.5a"),
        RoomKind.CLASS_PARENTS,
        "Родители 5А",
        "",
        frozenset(),
        (),
        None,
    )
    report = await Executor(client, store, ServerName("hs.test")).execute([CreateRoom(spec, ())])
    assert not report.failed, report.failed
    assert store.room_ids()[spec.key] == RoomID("!whole:hs.test")
