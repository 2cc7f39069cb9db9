"""The state store on SQLite: transactions, accounts, who may join."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appservice.diary_sync.layout import RoomKey
from appservice.diary_sync.state import Account
from appservice.store import Store
from kernel.ids import RoomID, SourcedId, UserID


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 1_700_000_000_000)
    yield opened
    opened.close()


def event(n: int) -> dict[str, object]:
    return {"event_id": f"$e{n}", "room_id": "!r:s", "type": "m.room.message", "sender": "@u:s"}


def test_a_replay_is_recognised_but_a_fresh_homeserver_reusing_the_id_is_not(
    store: Store,
) -> None:
    assert store.record_transaction("1", [event(1)]).new
    assert not store.record_transaction("1", [event(1)]).new
    # Transaction ids restart at 1 when the homeserver's database is recreated.
    assert store.record_transaction("1", [event(2)]).new
    assert store.event_count() == 2


def test_an_event_seen_in_two_transactions_is_stored_once(store: Store) -> None:
    store.record_transaction("1", [event(1)])
    outcome = store.record_transaction("2", [event(1), event(3)])
    assert [e.event_id for e in outcome.stored] == ["$e3"]
    assert store.event_count() == 2


def test_who_may_join_a_managed_room(store: Store) -> None:
    key, room = RoomKey("parta.s.class.5a"), RoomID("!class:s")
    store.save_room(key, room)
    store.set_allowed({key: frozenset({UserID("@a:s")})})
    assert store.may_join(room, UserID("@a:s")).allowed
    refused = store.may_join(room, UserID("@b:s"))
    assert refused.managed
    assert not refused.allowed
    assert store.may_join(RoomID("!teacher-made:s"), UserID("@b:s")).allowed


def test_relinking_a_person_replaces_the_account(store: Store) -> None:
    person = SourcedId("par-1")
    store.save_accounts({person: Account(UserID("@parta.par-1:s"), True)})
    store.save_accounts({person: Account(UserID("@mama:elsewhere"), False)}, linked=True)
    assert store.accounts() == {person: Account(UserID("@mama:elsewhere"), False)}
    assert store.linked() == {person}


def test_allowed_members_are_replaced_per_room(store: Store) -> None:
    key, room = RoomKey("parta.s.class.5a"), RoomID("!class:s")
    store.save_room(key, room)
    store.set_allowed({key: frozenset({UserID("@a:s"), UserID("@b:s")})})
    store.set_allowed({key: frozenset({UserID("@b:s"), UserID("@c:s")})})
    assert [store.may_join(room, UserID(u)).allowed for u in ("@a:s", "@b:s", "@c:s")] == [
        False,
        True,
        True,
    ]


def _member(user: str, ts: int, membership: str = "join") -> dict[str, object]:
    return {
        "event_id": f"$m-{user}-{ts}", "room_id": "!c:s", "type": "m.room.member",
        "sender": user, "state_key": user, "origin_server_ts": ts,
        "content": {"membership": membership},
    }  # fmt: skip


def _said(n: int, ts: int, sender: str = "@t:s") -> dict[str, object]:
    return {
        "event_id": f"$said{n}", "room_id": "!c:s", "type": "m.room.message", "sender": sender,
        "origin_server_ts": ts, "content": {"msgtype": "m.text", "body": f"{n}"},
    }  # fmt: skip


def _receipt(user: str, event_id: str, ts: int) -> dict[str, object]:
    return {
        "type": "m.receipt", "room_id": "!c:s",
        "content": {event_id: {"m.read": {user: {"ts": ts}}}},
    }  # fmt: skip


def test_who_has_read_a_message_counts_receipts_on_it_or_later_and_the_members_of_then(
    store: Store,
) -> None:
    """«Кто прочитал»: a receipt on the message or a later one counts; on an earlier one,
    not; who joined later, who left before, and the bot are not counted."""
    people = ["@t:s", "@a:s", "@b:s", "@c:s", "@d:s", "@bot:s"]
    store.record_transaction("1", [_member(u, 10) for u in people] + [_member("@d:s", 15, "leave")])
    store.record_transaction("2", [_said(1, 20), _said(2, 30), _said(3, 40, "@a:s")])
    store.record_transaction("3", [_member("@late:s", 35)])
    assert store.record_receipts([
        _receipt("@a:s", "$said3", 41), _receipt("@b:s", "$said2", 31),
        _receipt("@c:s", "$said1", 21), _receipt("@late:s", "$said3", 42),
    ]) == 4  # fmt: skip
    found = store.readers(RoomID("!c:s"), "$said2", frozenset({"@bot:s"}))
    assert found is not None
    assert found.sender == "@t:s"
    assert found.read == ["@a:s", "@b:s"]
    assert found.unread == ["@c:s"]  # read only up to the message before
    assert store.readers(RoomID("!c:s"), "$nothing", frozenset()) is None
    # receipts only move forward: an older one arriving late changes nothing
    assert store.record_receipts([_receipt("@a:s", "$said1", 5)]) == 0
    assert store.readers(RoomID("!c:s"), "$said3", frozenset({"@bot:s"})) is not None
