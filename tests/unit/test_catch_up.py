"""The catch-up's decisions (:mod:`appservice.catch_up`): how far back a room is read, and
which events count as never sent."""

from __future__ import annotations

from appservice.catch_up import overdue, since, with_room


def _event(n: int, ts: int) -> dict[str, object]:
    return {"event_id": f"$e{n}", "type": "m.room.message", "origin_server_ts": ts}


def test_a_room_is_read_back_to_its_last_read_and_no_further() -> None:
    page = [_event(9, 900), _event(8, 800), _event(7, 700), _event(6, 600)]  # newest first
    newer, done = since(page, from_ms=800)
    assert [e["event_id"] for e in newer] == ["$e9", "$e8"]
    assert done
    newer, done = since(page, from_ms=100)
    assert len(newer) == 4
    assert not done  # the next page may hold more since the last read


def test_an_event_the_store_lacks_counts_once_it_is_old_enough() -> None:
    events = [_event(3, 300), _event(1, 100), _event(2, 200), _event(3, 300), _event(4, 400)]
    missed = overdue(events, known={"$e2"}, ready_ms=300)
    assert [e["event_id"] for e in missed] == ["$e1", "$e3"]  # oldest first, once; $e4 young


def test_what_is_not_an_event_is_skipped_and_an_event_gets_its_room() -> None:
    assert with_room("nonsense", "!a:x") == {}
    assert with_room({"type": "no id"}, "!a:x") == {}
    assert with_room(_event(1, 5), "!a:x")["room_id"] == "!a:x"
    assert overdue([{"event_id": "$x"}], set(), ready_ms=0) == [{"event_id": "$x"}]  # no stamp
