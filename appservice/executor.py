"""Apply a plan through the client-server API, idempotently.

::

    actions ──group by phase──▶ phase k ──group by room──▶ room A: a1, a2 … (serial)
                                                       ├─▶ room B: b1 …    (serial)
                                                       └─▶ …  up to `concurrency` rooms at once

Synapse serialises membership changes per room, so parallelism only helps across
rooms. Every action is safe to repeat: "already registered" and "alias in use"
mean done, a join of someone already joined is never sent (the plan read the
members first), and the store records each room id the moment it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from appservice.diary_sync.content import RETENTION, create_room_body, retention, space_child
from appservice.diary_sync.layout import RoomKey
from appservice.diary_sync.plan import (
    Action,
    AddChild,
    CreateRoom,
    Deactivate,
    Invite,
    Join,
    MoveRoom,
    Reactivate,
    RegisterPuppet,
    Remove,
    RemoveChild,
    SetDisplayName,
    SetName,
    SetPower,
    SetRetention,
    SetSendLevel,
    SetTopic,
)
from appservice.errors import SYNC_FAILURES, NoAdminAccess, RoomMissing
from appservice.reader import made_whole
from appservice.store import Store
from kernel.ids import RoomID, ServerName, UserID, localpart_of, room_alias
from kernel.matrix import (
    MatrixClient,
    MatrixError,
    RoomInUse,
    UserInUse,
)
from kernel.matrix.admin import SynapseAdmin
from kernel.matrix.errors import HomeserverUnreachable

log = logging.getLogger(__name__)

REMOVE_REASON = "Состав изменился в электронном дневнике (the diary changed)"


@dataclass
class Report:
    done: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[Action, Exception]] = field(default_factory=list)
    """Actions refused for good: the rest of the plan still ran; a re-run retries them."""
    gone: HomeserverUnreachable | None = None
    """The homeserver stopped answering (past the client's patience): the steps after it
    were not tried and are in ``failed`` as such; a re-run does them."""

    @property
    def writes(self) -> int:
        return sum(self.done.values())


class NotTried(Exception):
    """A step left for the next run: the homeserver had stopped answering."""

    def __init__(self, gone: HomeserverUnreachable) -> None:
        super().__init__(f"not tried: the homeserver stopped answering ({gone})")


class Executor:
    def __init__(
        self,
        client: MatrixClient,
        store: Store,
        server: ServerName,
        concurrency: int = 8,
        progress: Callable[[int], None] = lambda _n: None,
        closed_space: bool = False,
        admin: SynapseAdmin | None = None,
    ) -> None:
        self._admin = admin
        self._closed_space = closed_space
        """Federating schools: the space is invite-only, so no other server can see into it."""
        self._client = client
        self._store = store
        self._server = server
        self._concurrency = concurrency
        self._progress = progress
        self._rooms: dict[RoomKey, RoomID] = {}

    async def execute(self, actions: Sequence[Action]) -> Report:
        report = Report()
        self._rooms = self._store.room_ids()
        for _phase, group in itertools.groupby(actions, key=lambda a: a.phase):
            await self._phase(list(group), report)
        return report

    async def _phase(self, actions: list[Action], report: Report) -> None:
        lanes: dict[str, list[Action]] = defaultdict(list)
        for action in actions:
            lanes[_lane(action)].append(action)
        gate = asyncio.Semaphore(self._concurrency)

        async def run(lane: list[Action]) -> None:
            async with gate:
                for action in lane:
                    if report.gone is not None:
                        report.failed.append((action, NotTried(report.gone)))
                        continue
                    try:
                        await self._apply(action)
                    except HomeserverUnreachable as e:
                        log.error("the homeserver stopped answering: %s; stopping", e)
                        report.gone = e
                        report.failed.append((action, e))
                    except SYNC_FAILURES as e:
                        log.warning("action failed: %s: %s", type(action).__name__, e)
                        report.failed.append((action, e))
                    else:
                        report.done[type(action).__name__] += 1
                    self._progress(1)

        await asyncio.gather(*(run(lane) for lane in lanes.values()))

    async def _apply(self, action: Action) -> None:
        match action:
            case RegisterPuppet(user, name):
                await self._register(user, name)
            case SetDisplayName(user, name):
                await self._client.set_display_name(user, name)
                self._store.save_puppet(user, name)
            case CreateRoom():
                await self._create(action)
            case AddChild(space, child):
                content = space_child(self._server)
                await self._client.send_state(
                    self._room(space), "m.space.child", content, self._room(child)
                )
            case RemoveChild(space, child):
                await self._client.send_state(
                    self._room(space), "m.space.child", {}, self._room(child)
                )
            case SetName(room, name):
                await self._client.send_state(self._room(room), "m.room.name", {"name": name})
            case SetTopic(room, topic):
                await self._client.send_state(self._room(room), "m.room.topic", {"topic": topic})
            case SetPower(room, users):
                await self._set_power(room, dict(users))
            case MoveRoom(old, room):
                await self._move(old, room)
            case SetSendLevel(room, level):
                room_id = self._room(room)
                content = await self._client.state_event(room_id, "m.room.power_levels")
                content["events_default"] = level
                await self._client.send_state(room_id, "m.room.power_levels", content)
            case SetRetention(room, ms):
                await self._client.send_state(self._room(room), RETENTION, retention(ms))
            case Join(room, user, is_space):
                if is_space and self._closed_space:
                    await self._invite_quietly(self._room(room), user)
                await self._client.join(self._room(room), user)
            case Invite(room, user):
                await self._client.invite(self._room(room), user)
                self._store.record_invite(room, user, present=True)
            case Remove(room, user, _space, puppet):
                await self._remove(self._room(room), user, puppet)
                self._store.record_invite(room, user, present=False)
            case Deactivate(user):
                await self._administrator().deactivate(user)
                self._store.record_deactivation(user)
            case Reactivate(user):
                await self._administrator().reactivate(user)
                self._store.forget_departure(user)

    def _administrator(self) -> SynapseAdmin:
        if self._admin is None:
            raise NoAdminAccess(
                "switching an account off or on needs the homeserver's admin API: "
                "run the sync through `parta sync` on the school's server"
            )
        return self._admin

    async def _invite_quietly(self, room: RoomID, user: UserID) -> None:
        """An invite the join right after uses; already invited is fine (a re-run)."""
        try:
            await self._client.invite(room, user)
        except MatrixError as e:
            log.info("invite of %s to %s before joining: %s", user, room, e)

    def _room(self, key: RoomKey) -> RoomID:
        room = self._rooms.get(key)
        if room is None:
            raise RoomMissing(f"#{key} was not created (an earlier action failed)")
        return room

    async def _register(self, user: UserID, name: str) -> None:
        try:
            await self._client.register(localpart_of(user))
        except UserInUse:
            log.info("puppet %s already registered", user)
        await self._client.set_display_name(user, name)
        self._store.save_puppet(user, name)

    async def _create(self, action: CreateRoom) -> None:
        spec = action.spec
        alias = room_alias(spec.key, self._server)
        space = self._room(spec.parent) if spec.parent else None
        body = create_room_body(
            spec, dict(action.power), space, self._server, self._closed_space, action.retention_ms
        )
        room = await self._whole(await self._client.resolve_alias(alias), alias)
        if room is None:
            try:
                room = await self._client.create_room(body)
            except RoomInUse:
                room = await self._whole(await self._client.resolve_alias(alias), alias)
                if room is None:
                    room = await self._client.create_room(body)
        self._store.save_room(spec.key, room)
        self._rooms[spec.key] = room

    async def _whole(self, room: RoomID | None, alias: str) -> RoomID | None:
        """``room`` if it was made whole; None for a room a homeserver killed mid-``createRoom``
        left half made (its alias set, no power levels, maybe not even the bot's join): the
        alias is taken off it and the bot leaves it, so the room is made again rather than
        adopted broken for good."""
        if room is None:
            return None
        if await made_whole(self._client, room):
            return room
        # the alias is in the school's own namespace: only its bot made this room
        log.warning("%s was left half made (not the bot's to read): making it again", alias)
        await self._client.remove_alias(alias)
        with contextlib.suppress(MatrixError):
            await self._client.leave(room)
        return None

    async def _move(self, old: RoomKey, new: RoomKey) -> None:
        room = self._rooms.get(old) or self._rooms.get(new)
        if room is None:
            raise RoomMissing(f"#{old} is not known: it cannot become #{new}")
        await self._client.add_alias(room_alias(new, self._server), room)
        self._store.move_room(old, new)
        self._rooms.pop(old, None)
        self._rooms[new] = room

    async def _set_power(self, room: RoomKey, users: dict[UserID, int]) -> None:
        room_id = self._room(room)
        content = await self._client.state_event(room_id, "m.room.power_levels")
        content["users"] = users
        await self._client.send_state(room_id, "m.room.power_levels", content)

    async def _remove(self, room: RoomID, user: UserID, puppet: bool) -> None:
        if puppet:
            await self._client.leave(room, user)
        else:
            await self._client.kick(room, user, REMOVE_REASON)


def _lane(action: Action) -> str:
    """Actions in one lane run in order; lanes run in parallel."""
    room = getattr(action, "room", None) or getattr(action, "space", None)
    if room is not None:
        return str(room)
    if isinstance(action, CreateRoom):
        return f"create:{action.spec.key}"
    return f"user:{getattr(action, 'user_id', '')}"
