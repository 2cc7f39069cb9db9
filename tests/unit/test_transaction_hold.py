"""A transaction that meets a store that went away is held and tried again, not refused at
once: the homeserver's retry after a refusal needs its own database, which in a shared
restart is away too (docs/benchmarks.md, "known gaps")."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from twisted.internet.task import Clock
from twisted.web import server
from twisted.web.test.requesthelper import DummyRequest

from appservice.server import HOLD_RETRY_S, HOLD_S, AppserviceResource
from appservice.store import Store, TransactionOutcome


class AwayStore(Store):
    """A real store whose first ``away`` transactions fail as a restarting database does."""

    away = 0

    def record_transaction(self, txn_id: str, raw_events: Sequence[object]) -> TransactionOutcome:
        if self.away > 0:
            self.away -= 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return super().record_transaction(txn_id, raw_events)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AwayStore]:
    opened = AwayStore.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 0)
    assert isinstance(opened, AwayStore)
    try:
        yield opened
    finally:
        opened.close()


def _put(resource: AppserviceResource, txn: str) -> tuple[Any, object]:
    request: Any = DummyRequest([])  # typed loosely: twisted's test request is untyped
    request.method = b"PUT"
    request.path = f"/_matrix/app/v1/transactions/{txn}".encode()
    request.requestHeaders.setRawHeaders(b"authorization", [b"Bearer hs-token"])
    event = {
        "type": "m.room.message",
        "event_id": f"$e-{txn}",
        "room_id": "!r:hs.test",
        "sender": "@a:hs.test",
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "Привет"},
    }
    request.content = BytesIO(json.dumps({"events": [event]}).encode())
    return request, resource.render(request)


def test_a_store_back_within_the_hold_gets_the_transaction_stored_and_answered_200(
    store: AwayStore,
) -> None:
    clock = Clock()
    resource = AppserviceResource(store, "hs-token", clock=clock)
    store.away = 4  # two seconds of a database restarting
    request, first = _put(resource, "t1")
    assert first == server.NOT_DONE_YET  # held, not refused
    for _ in range(4):
        assert request.finished == 0
        clock.advance(HOLD_RETRY_S)
    assert request.finished == 1
    assert request.responseCode == 200
    assert store.event_count() == 1
    assert store.transaction_count() == 1


def test_a_store_away_longer_than_the_hold_is_refused_with_503_and_nothing_is_stored(
    store: AwayStore,
) -> None:
    clock = Clock()
    resource = AppserviceResource(store, "hs-token", clock=clock)
    store.away = 10_000
    request, first = _put(resource, "t2")
    assert first == server.NOT_DONE_YET
    clock.advance(HOLD_S / 2)
    for _ in range(int(HOLD_S / HOLD_RETRY_S) + 2):
        clock.advance(HOLD_RETRY_S)
    assert request.finished == 1
    assert request.responseCode == 503
    assert b"unavailable" in b"".join(request.written)
    assert store.event_count() == 0


def test_a_homeserver_that_hung_up_stops_the_retries(store: AwayStore) -> None:
    clock = Clock()
    resource = AppserviceResource(store, "hs-token", clock=clock)
    store.away = 10_000
    request, _ = _put(resource, "t3")
    request.processingFailed(Exception("connection lost"))  # errbacks notifyFinish
    clock.advance(HOLD_S * 2)
    assert clock.getDelayedCalls() == []
