"""Events the homeserver never sent: the appservice catches up by itself.

Synapse writes each batch for an appservice to its own database before it sends it. When that
database is away (a PostgreSQL restart), the batch is dropped and never retried
(docs/benchmarks.md, "known gaps"); later batches arrive as usual. So every ``catch_up_seconds``
the appservice reads, in each room it made, the events since its last read, and records
every one its store lacks once it is ``GRACE_S`` old (younger ones the homeserver may be
sending right now). An event that comes both ways is stored once: the store keys events
by their id. Synapse does not let an appservice's own user ``/sync`` or read ``/events``,
so the rooms are read one by one with ``/messages``.

::

    tick ── for each room of the store: GET /rooms/{id}/messages?dir=b (the bot), page by page,
         │  back to the last read (less ``OVERLAP_S``) or ``PAGES`` pages
         ├─ events the store lacks, older than GRACE_S → store.record_transaction("catch-up/…")
         └─ keep "read up to now − GRACE_S", only after the record: a crash reads it again,
            and records nothing twice

The first tick only takes the time: what came before it came by transactions. A room the
store did not make (a direct chat between people) is not read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from appservice.store import ReceivedEvent, Store
from kernel.ids import RoomID
from kernel.matrix.client import CS, JsonDict, MatrixClient, q
from kernel.matrix.errors import MatrixFailure

log = logging.getLogger(__name__)

GRACE_S = 10
"""An event younger than this may still be on its way in a transaction."""
OVERLAP_S = 5
"""Each read goes this much further back than the last one ended: an event is stamped
before it is stored."""
PAGES = 20
"""How far back one room is read in one tick, in pages."""
PAGE = 50
"""Events a page of ``/messages``."""
FIRST = 10
"""Events of a room's first page: most rooms had nothing since the last read, and their
first page is all that is read."""
LAZY = json.dumps({"lazy_load_members": True})
POSITION = "catch-up-read-ms"
"""The snapshot that keeps the time up to which the rooms were read."""


def with_room(event: object, room_id: str) -> JsonDict:
    """An event of ``/messages`` in the form a transaction carries it; {} for something that
    is not an event."""
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        return {}
    return {**event, "room_id": room_id}


def stamped(event: Mapping[str, Any]) -> int:
    ts = event.get("origin_server_ts")
    return ts if isinstance(ts, int) else 0


def since(page: Sequence[JsonDict], from_ms: int) -> tuple[list[JsonDict], bool]:
    """The events of a page read backwards (newest first) stamped at or after ``from_ms``; and
    whether the page reached an earlier one (then nothing further back is needed)."""
    found: list[JsonDict] = []
    for event in page:
        if stamped(event) < from_ms:
            return found, True
        found.append(event)
    return found, False


def overdue(events: Sequence[JsonDict], known: set[str], ready_ms: int) -> list[JsonDict]:
    """The events the store lacks that the homeserver should have sent by now (stamped at or
    before ``ready_ms``), oldest first, each once."""
    found: dict[str, JsonDict] = {}
    for event in events:
        event_id = str(event["event_id"])
        if event_id not in known and stamped(event) <= ready_ms:
            found.setdefault(event_id, event)
    return sorted(found.values(), key=stamped)


class CatchUp:
    def __init__(
        self,
        client: MatrixClient,
        store: Store,
        now_ms: Callable[[], int],
        grace_s: float = GRACE_S,
        page: int = PAGE,
    ) -> None:
        self._client = client
        self._store = store
        self._now_ms = now_ms
        self._grace_ms = int(grace_s * 1000)
        self._page = page

    async def tick(self) -> int:
        """Read the rooms since the kept time; returns how many events were recorded."""
        read_to = self._now_ms() - self._grace_ms
        kept = self._store.snapshot(POSITION)
        if not isinstance(kept, int):
            self._store.save_snapshot(POSITION, read_to, changes_diary=False)
            return 0
        from_ms = kept - OVERLAP_S * 1000
        events: list[JsonDict] = []
        for room in sorted(set(self._store.room_ids().values())):
            events.extend(await self._room(room, from_ms))
        known = self._store.known_events([str(e["event_id"]) for e in events])
        missed = overdue(events, known, read_to)
        stored: tuple[ReceivedEvent, ...] = ()
        if missed:
            stored = self._store.record_transaction(f"catch-up/{kept}", missed).stored
        self._store.save_snapshot(POSITION, max(kept, read_to), changes_diary=False)
        if stored:
            log.warning(
                "catch-up: recorded %d event(s) the homeserver had not sent %d s after they "
                "were made (%s)",
                len(stored),
                self._grace_ms // 1000,
                ", ".join(sorted({e.room_id for e in stored})),
            )
        return len(stored)

    async def _room(self, room: RoomID, from_ms: int) -> list[JsonDict]:
        """The room's events stamped at or after ``from_ms``."""
        found: list[JsonDict] = []
        params = {"dir": "b", "limit": str(min(FIRST, self._page)), "filter": LAZY}
        for _ in range(PAGES):
            try:
                page = await self._client.request(
                    "GET", f"{CS}/rooms/{q(room)}/messages", params=params
                )
            except MatrixFailure as e:
                if e.transient:
                    raise
                log.info("catch-up: %s cannot be read (%s)", room, e)  # the bot left it
                return found
            chunk = [e for e in (with_room(e, room) for e in page.get("chunk", [])) if e]
            newer, done = since(chunk, from_ms)
            found.extend(newer)
            end = page.get("end")
            if done or not chunk or not isinstance(end, str):
                return found
            params = {**params, "from": end, "limit": str(self._page)}
        log.warning("catch-up: %s read back %d pages and did not reach its last read", room, PAGES)
        return found
