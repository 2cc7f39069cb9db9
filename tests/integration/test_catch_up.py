"""The appservice's catch-up (:mod:`appservice.catch_up`) against a real Synapse: events the
homeserver never sent to a store are read back from the rooms and recorded once.

The store here is a fresh one that Synapse never sends to, which is what a store looks like
after Synapse dropped a batch (it cannot be made to drop one on purpose).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from appservice.catch_up import GRACE_S, POSITION, CatchUp
from appservice.diary_sync.layout import RoomKey
from appservice.store import Store, events
from kernel.matrix import MatrixClient

pytestmark = pytest.mark.integration

PAGE = 5
MESSAGES = 12
"""More than two pages of ``/messages``."""


def _copies(store: Store, ids: list[str]) -> dict[str, int]:
    query = (
        sa.select(events.c.event_id, sa.func.count())
        .where(events.c.event_id.in_(ids))
        .group_by(events.c.event_id)
    )
    with store.engine.connect() as c:
        return {str(e): int(k) for e, k in c.execute(query)}


async def test_events_a_store_never_got_are_recorded_once_when_they_are_old_enough(
    client: MatrixClient, tmp_path: Path
) -> None:
    fresh = Store.open(f"sqlite:///{tmp_path / 'fresh.db'}", now_ms=lambda: int(time.time() * 1000))
    later = [0]  # how far the catch-up's clock is ahead of the real one

    def now_ms() -> int:
        return int(time.time() * 1000) + later[0]

    try:
        catch_up = CatchUp(client, fresh, now_ms, page=PAGE)
        assert await catch_up.tick() == 0  # the first tick only takes the time
        room = await client.create_room({"name": "Догоняем", "preset": "private_chat"})
        fresh.save_room(RoomKey("class:catch-up"), room)
        sent = [
            await client.send_message(room, {"msgtype": "m.text", "body": f"№{i}"}, f"cu-{i}")
            for i in range(MESSAGES)
        ]
        assert await catch_up.tick() == 0  # too young: Synapse may be sending them right now
        assert _copies(fresh, sent) == {}
        kept = fresh.snapshot(POSITION)
        later[0] = (GRACE_S + 1) * 1000
        recorded = await catch_up.tick()
        assert _copies(fresh, sent) == dict.fromkeys(sent, 1)
        assert recorded >= MESSAGES  # the room's own state events too
        with fresh.engine.connect() as c:
            rows = c.execute(
                sa.select(events.c.room_id, events.c.body).where(events.c.event_id.in_(sent))
            ).all()
        assert {r.room_id for r in rows} == {room}
        bodies = sorted(json.loads(r.body)["content"]["body"] for r in rows)
        assert bodies == sorted(f"№{i}" for i in range(MESSAGES))
        # a crash after the record, before the time was kept: read again, nothing twice
        fresh.save_snapshot(POSITION, kept, changes_diary=False)
        assert await catch_up.tick() == 0
        assert _copies(fresh, sent) == dict.fromkeys(sent, 1)
    finally:
        fresh.close()


def test_the_running_appservice_keeps_the_time_it_read_up_to(store: Store) -> None:
    kept = store.snapshot(POSITION)
    assert isinstance(kept, int)
    assert kept > 1_700_000_000_000
