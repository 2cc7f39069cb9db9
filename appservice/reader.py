"""Read the actual Matrix state of a school: the store's room ids, then Synapse.

One ``GET /rooms/{id}/state`` per managed room (parallel across rooms) gives
name, topic, members, powers and space children in a single request. A desired
room the store does not know is looked up by alias: a run that crashed after
``createRoom`` but before recording the id must adopt the room, not create a
second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from appservice.diary_sync.layout import RoomKey
from appservice.diary_sync.state import Actual, ActualRoom, Membership
from appservice.matrix import JsonDict, MatrixClient
from appservice.store import Store
from parta.ids import RoomID, ServerName, UserID, room_alias


async def read_actual(
    client: MatrixClient,
    store: Store,
    server: ServerName,
    bot: UserID,
    keys: Iterable[RoomKey],
    concurrency: int = 8,
) -> Actual:
    known = store.room_ids()
    wanted = sorted(set(keys))
    for key in wanted:
        if key not in known:
            found = await client.resolve_alias(room_alias(key, server))
            if found is not None:
                store.save_room(key, found)
                known[key] = found
    gate = asyncio.Semaphore(concurrency)

    async def one(key: RoomKey) -> tuple[RoomKey, ActualRoom]:
        async with gate:
            return key, parse_state(known[key], await client.state(known[key]), bot)

    pairs = await asyncio.gather(*(one(k) for k in wanted if k in known))
    accounts = store.accounts()
    puppets = store.puppets()
    managed = frozenset(a.user_id for a in accounts.values()) | puppets.keys()
    return Actual(dict(pairs), puppets, frozenset(managed))


def parse_state(room_id: RoomID, state: list[JsonDict], bot: UserID) -> ActualRoom:
    name = topic = ""
    members: dict[UserID, Membership] = {}
    power: dict[UserID, int] = {}
    children: set[RoomID] = set()
    for event in state:
        kind, key, content = event.get("type"), event.get("state_key", ""), _content(event)
        if kind == "m.room.name":
            name = str(content.get("name", ""))
        elif kind == "m.room.topic":
            topic = str(content.get("topic", ""))
        elif kind == "m.room.member" and key != bot:
            membership = content.get("membership")
            if membership in ("join", "invite"):
                members[UserID(key)] = Membership(membership)
        elif kind == "m.room.power_levels":
            users = content.get("users", {})
            power = {UserID(u): int(v) for u, v in users.items() if u != bot}
        elif kind == "m.space.child" and content.get("via"):
            children.add(RoomID(key))
    return ActualRoom(room_id, name, topic, members, power, frozenset(children))


def _content(event: JsonDict) -> dict[str, Any]:
    content = event.get("content")
    return content if isinstance(content, dict) else {}
