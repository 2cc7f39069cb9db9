"""Read the actual Matrix state of a school: the store's room ids, then Synapse.

The full ``/state`` of a room grows with every member event (~3 s for a
2,600-person school), so the reader asks for just what the plan compares:

::

    per space:  /hierarchy (1–2 pages) ──▶ names, topics, the space's children
    per room:   /joined_members + power_levels ──▶ members, powers
    store:      invites the sync sent (Synapse lists invites only with every member)

A partial run (linking one person: a handful of rooms) skips the hierarchy, which
lists the whole school: the space's name and topic are read one by one and its
children are asked about just for the rooms at hand (``m.space.child`` each).

Rooms are read in parallel. A desired room the store does not know is looked up
by alias: a run that crashed after ``createRoom`` but before recording the id
must adopt the room, not create a second one. A room the bot cannot read (a homeserver
killed mid-``createRoom`` left it without the bot's join or power levels) is not
adopted, and a stored one is read as missing: the sync makes it again
(:meth:`appservice.executor.Executor._whole` takes the alias off it). A room missing
from its space's hierarchy (its ``m.space.child`` was never sent) has its name and
topic read one by one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from appservice.diary_sync.content import RETENTION
from appservice.diary_sync.layout import RoomKey
from appservice.diary_sync.state import Actual, ActualRoom, Membership
from appservice.store import Store
from kernel.ids import RoomID, ServerName, UserID, room_alias
from kernel.matrix import Forbidden, JsonDict, MatrixClient, NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Summary:
    name: str
    topic: str
    children: frozenset[RoomID] = frozenset()


async def read_actual(
    client: MatrixClient,
    store: Store,
    server: ServerName,
    bot: UserID,
    keys: Iterable[RoomKey],
    spaces: Iterable[RoomKey] = (),
    concurrency: int = 8,
    partial: bool = False,
) -> Actual:
    known = await _room_ids(client, store, server, sorted(set(keys)))
    summaries: dict[RoomID, _Summary] = {}
    space_ids = [known[space] for space in spaces if space in known]
    if not partial:
        for space in space_ids:
            summaries.update(_summaries(await client.hierarchy(space)))
    invites = store.invites()
    gate = asyncio.Semaphore(concurrency)

    async def one(key: RoomKey) -> tuple[RoomKey, ActualRoom] | None:
        async with gate:
            try:
                room = await read_room(client, known[key], bot, summaries.get(known[key]))
            except Forbidden:  # the bot is not in it: a room left half made, made again
                log.warning("%s (#%s) is not the bot's to read: read as missing", known[key], key)
                return None
            if partial and room.room_id in space_ids:
                others = [r for r in known.values() if r != room.room_id]
                room = replace(room, children=await _children_among(client, room.room_id, others))
        pending = {u: Membership.INVITE for u in invites.get(key, ()) if u not in room.members}
        return key, ActualRoom(
            room.room_id,
            room.name,
            room.topic,
            {**pending, **room.members},
            room.power,
            room.children,
            room.retention_ms,
            room.events_default,
        )

    pairs = [p for p in await asyncio.gather(*(one(k) for k in known)) if p is not None]
    accounts = store.accounts()
    puppets = store.puppets()
    managed = frozenset(a.user_id for a in accounts.values()) | puppets.keys()
    deactivated = frozenset(u for u, d in store.departures().items() if d.deactivated_ms)
    return Actual(dict(pairs), puppets, frozenset(managed), deactivated)


async def _room_ids(
    client: MatrixClient, store: Store, server: ServerName, wanted: list[RoomKey]
) -> dict[RoomKey, RoomID]:
    stored = store.room_ids()
    known: dict[RoomKey, RoomID] = {}
    for key in wanted:
        room = stored.get(key)
        if room is None:
            room = await client.resolve_alias(room_alias(key, server))
            if room is not None and not await made_whole(client, room):
                room = None  # left half made: the executor makes it again
            if room is not None:
                store.save_room(key, room)
        if room is not None:
            known[key] = room
    return known


async def made_whole(client: MatrixClient, room: RoomID) -> bool:
    """Whether the bot can read the room's power levels: a room a homeserver killed
    mid-``createRoom`` lacks them, or even the bot's own join."""
    try:
        await client.state_event(room, "m.room.power_levels")
    except (NotFound, Forbidden):
        return False
    return True


async def _children_among(
    client: MatrixClient, space: RoomID, rooms: list[RoomID]
) -> frozenset[RoomID]:
    found = await asyncio.gather(
        *(client.state_event_or_empty(space, "m.space.child", room) for room in rooms)
    )
    return frozenset(room for room, content in zip(rooms, found, strict=True) if content.get("via"))


def _summaries(rooms: list[JsonDict]) -> dict[RoomID, _Summary]:
    out: dict[RoomID, _Summary] = {}
    for index, room in enumerate(rooms):
        children = frozenset(
            RoomID(str(e.get("state_key")))
            for e in room.get("children_state", [])
            if isinstance(e, dict) and _content(e).get("via")
        )
        summary = _Summary(str(room.get("name", "")), str(room.get("topic", "")), children)
        if index == 0 or RoomID(str(room.get("room_id"))) not in out:
            out[RoomID(str(room.get("room_id")))] = summary
    return out


async def read_room(
    client: MatrixClient, room: RoomID, bot: UserID, summary: _Summary | None
) -> ActualRoom:
    """One request: the room's whole current state (a district's no-op re-sync read 1,320
    rooms with five requests each — members, power levels, retention, name, topic)."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for event in await client.room_state(room):
        state[(str(event.get("type", "")), str(event.get("state_key", "")))] = _content(event)
    joined = [
        UserID(key)
        for (kind, key), content in state.items()
        if kind == "m.room.member" and content.get("membership") == "join"
    ]
    power = state.get(("m.room.power_levels", ""), {})
    lifetime = state.get((RETENTION, ""), {}).get("max_lifetime")
    if summary is None:
        name = state.get(("m.room.name", ""), {})
        topic = state.get(("m.room.topic", ""), {})
        summary = _Summary(str(name.get("name", "")), str(topic.get("topic", "")))
    return ActualRoom(
        room_id=room,
        name=summary.name,
        topic=summary.topic,
        members={u: Membership.JOIN for u in joined if u != bot},
        power={UserID(u): int(v) for u, v in _users(power).items() if u != bot},
        children=summary.children,
        retention_ms=lifetime if isinstance(lifetime, int) else None,
        events_default=_int(power.get("events_default"), 0),
    )


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _users(power: dict[str, Any]) -> dict[str, Any]:
    users = power.get("users")
    return users if isinstance(users, dict) else {}


def _content(event: JsonDict) -> dict[str, Any]:
    content = event.get("content")
    return content if isinstance(content, dict) else {}
