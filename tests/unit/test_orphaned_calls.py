"""A worker back from a kill ends the calls it left open, but not one that another worker
took in the moment between reading the call's widget and taking it down
(:meth:`call_bridge.signalling.Calls.wrap_up_orphans`).

The room is ``CallRoom`` over an in-memory stand-in for Synapse's state and send endpoints
(``httpx.MockTransport``); the attendance book is the real one, on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from call_bridge.attendance import AttendanceBook, OpenCall
from call_bridge.matrix_room import WIDGET_TYPE, CallRoom
from call_bridge.rules import CallId
from call_bridge.signalling import Calls, Traces
from kernel.ids import UserID

ROOM = "!chat:school.example"
CALL = CallId.parse(f"room/{ROOM}")
HOST = "@teacher:school.example"


class Synapse:
    """The room's state and messages; ``before_write`` runs just before the first write of
    the widget is applied (another process's request arriving first)."""

    def __init__(self, before_write: Callable[[Synapse], None]) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.notices: list[str] = []
        self._hook: Callable[[Synapse], None] | None = before_write

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if f"/state/{WIDGET_TYPE}/" in path:
            if request.method == "GET":
                widget = self.state.get(WIDGET_TYPE)
                if widget is None:
                    return httpx.Response(404, json={"errcode": "M_NOT_FOUND", "error": "none"})
                return httpx.Response(200, json=widget)
            if self._hook is not None:
                hook, self._hook = self._hook, None
                hook(self)
            self.state[WIDGET_TYPE] = json.loads(request.content)
            return httpx.Response(200, json={"event_id": "$w"})
        if "/send/m.room.message/" in path:
            self.notices.append(json.loads(request.content)["body"])
            return httpx.Response(200, json={"event_id": "$m"})
        return httpx.Response(404, json={"errcode": "M_UNRECOGNIZED", "error": path})


def _widget(worker: int) -> dict[str, Any]:
    return {"type": "m.custom", "data": {"worker": worker}}


def _calls(synapse: Synapse, book: AttendanceBook, worker: int) -> Calls:
    room = CallRoom(
        "http://synapse.test",
        "as-token",
        UserID("@calls:school.example"),
        transport=httpx.MockTransport(synapse),
    )
    traces = Traces(room, book, lambda c: f"https://calls.test/{c}", worker, ZoneInfo("UTC"))
    return Calls(gate=None, ice_for=lambda _a: [], traces=traces)  # type: ignore[arg-type]


def _held(worker: int) -> OpenCall:
    return OpenCall(str(CALL), ROOM, "5А", worker, (HOST,))


async def test_a_call_left_open_by_the_worker_s_earlier_life_is_ended(tmp_path: Path) -> None:
    book = AttendanceBook(f"sqlite:///{tmp_path / 'book.db'}")
    book.opened(_held(1))
    synapse = Synapse(lambda s: None)
    synapse.state[WIDGET_TYPE] = _widget(1)
    assert await _calls(synapse, book, 1).wrap_up_orphans() == 1
    assert synapse.state[WIDGET_TYPE] == {}
    assert synapse.notices == ["5А — звонок завершён"]
    assert book.holder(str(CALL)) is None


async def test_a_call_another_worker_took_meanwhile_keeps_its_widget(tmp_path: Path) -> None:
    book = AttendanceBook(f"sqlite:///{tmp_path / 'book.db'}")
    book.opened(_held(1))

    def worker_2_announces(synapse: Synapse) -> None:
        book.opened(_held(2))  # the book first, then the widget, as Calls._announce does
        synapse.state[WIDGET_TYPE] = _widget(2)

    synapse = Synapse(worker_2_announces)  # after worker 1 read its widget, before its write
    synapse.state[WIDGET_TYPE] = _widget(1)
    assert await _calls(synapse, book, 1).wrap_up_orphans() == 0
    assert synapse.state[WIDGET_TYPE]["data"]["worker"] == 2
    assert synapse.notices == []  # no «звонок завершён» for a call that goes on
    held = book.holder(str(CALL))
    assert held is not None
    assert held.worker == 2
