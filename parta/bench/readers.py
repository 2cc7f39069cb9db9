"""``parta bench readers``: «Кто прочитал» for a big room, counted on the server.

A room of ``--members`` people (the announcements of a school of a thousand) with
``--messages`` messages and every member's read receipt somewhere among them; the
appservice's store answers who has read a message in the middle. The baseline, run in the
same process on the same store, is the floor any answer pays: reading the room's receipts
and its membership events, nothing decided.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from appservice.store import Store
from kernel.ids import RoomID

ROOM = "!announcements:bench"


def _fill(store: Store, members: int, messages: int) -> list[str]:
    people = [f"@parta.p{i:05d}:bench" for i in range(members)]
    joins: list[object] = [
        {"event_id": f"$join{i}", "room_id": ROOM, "type": "m.room.member", "sender": u,
         "state_key": u, "origin_server_ts": 1_000 + i, "content": {"membership": "join"}}
        for i, u in enumerate(people)
    ]  # fmt: skip
    store.record_transaction("joins", joins)
    said: list[object] = [
        {"event_id": f"$said{n}", "room_id": ROOM, "type": "m.room.message",
         "sender": people[0], "origin_server_ts": 100_000 + n,
         "content": {"msgtype": "m.text", "body": f"Объявление {n}"}}
        for n in range(messages)
    ]  # fmt: skip
    for start in range(0, messages, 100):
        store.record_transaction(f"said{start}", said[start : start + 100])
    luck = random.Random(7)  # noqa: S311 - a repeatable spread of receipts, not a secret
    receipts: list[object] = [
        {"type": "m.receipt", "room_id": ROOM,
         "content": {f"$said{luck.randrange(messages)}": {"m.read": {u: {"ts": 200_000}}}}}
        for u in people[1:]
    ]  # fmt: skip
    for start in range(0, len(receipts), 100):
        store.record_receipts(receipts[start : start + 100])
    return [f"$said{n}" for n in range(messages)]


def run(members: int, messages: int, rounds: int, state: Path) -> dict[str, object]:
    store = Store.open(f"sqlite:///{state / 'readers.db'}", now_ms=lambda: 0)
    try:
        events = _fill(store, members, messages)
        middle = events[len(events) // 2]
        answer_ms, floor_ms = [], []
        found = None
        for _ in range(rounds):
            started = time.perf_counter()
            found = store.readers(RoomID(ROOM), middle, frozenset())
            answer_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            store.receipts_and_members(RoomID(ROOM))
            floor_ms.append((time.perf_counter() - started) * 1000)
        assert found is not None  # noqa: S101 - the event was stored above
        p50, floor = statistics.median(answer_ms), statistics.median(floor_ms)
        return {
            "members": members,
            "messages": messages,
            "read": len(found.read),
            "unread": len(found.unread),
            "readers_p50_ms": round(p50, 2),
            "readers_max_ms": round(max(answer_ms), 2),
            "baseline_read_rows_p50_ms": round(floor, 2),
            "ratio_to_baseline": round(p50 / floor, 2) if floor else None,
            "database": "sqlite",
        }
    finally:
        store.close()


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="parta-readers-") as state:
        figures = run(args.members, args.messages, args.rounds, Path(state))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key:>28}: {value}")
    return 0
