"""The region's teachers' network: one federating space, each school's network room in it.

::

    host school:  #parta.region.network:<host> exists? ── no ──▶ createRoom (space, federates,
                  server ACL = the region's schools, every school's bot may add children)
    every school: join the space through the host (over federation when not the host)
                  ├─ m.space.child  <own «Сеть учителей» room>  (in the network space)
                  └─ m.space.parent <network space>              (in its own room)

Idempotent: state already right is not sent again. The school space, class rooms and
everything else that holds minors are never linked here (a non-federating room in a
federated space still shows its name and member count to the other servers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.diary_sync.model import Diary
from appservice.errors import AppserviceError
from appservice.store import Store
from kernel.config import RegionConfig
from kernel.ids import RoomAlias, RoomID, ServerName, UserID, room_alias, user_id
from kernel.matrix import MatrixClient

NETWORK_KEY = "parta.region.network"


@dataclass(frozen=True)
class RegionReport:
    space: RoomID
    created: bool
    linked: int
    """State events sent (0 on a re-run with nothing to do)."""


@dataclass(frozen=True)
class RegionSync:
    client: MatrixClient
    store: Store
    server: ServerName
    bot: UserID
    region: RegionConfig

    @property
    def network_alias(self) -> RoomAlias:
        return room_alias(NETWORK_KEY, ServerName(self.region.network_host))

    async def run(self, diary: Diary) -> RegionReport:
        created = False
        space = await self.client.resolve_alias(self.network_alias)
        if space is None:
            if self.region.network_host != self.server:
                raise AppserviceError(
                    f"the network space {self.network_alias} does not exist yet: "
                    f"sync the host school ({self.region.network_host}) first"
                )
            space, created = await self.client.create_room(self._space_body()), True
        await self.client.join(self.network_alias, self.bot)
        sent = 0
        rooms = self.store.room_ids()
        for school_id in sorted(diary.schools):
            own = rooms.get(room_key(school_id, RoomKind.NETWORK_STAFF))
            if own is not None:
                sent += await self._link(space, own)
        return RegionReport(space, created, sent)

    async def _link(self, space: RoomID, room: RoomID) -> int:
        sent = 0
        child = {"via": [self.server]}
        if await self.client.state_event_or_empty(space, "m.space.child", room) != child:
            await self.client.send_state(space, "m.space.child", child, room, as_user=self.bot)
            sent += 1
        parent = {"via": [self.region.network_host], "canonical": True}
        if await self.client.state_event_or_empty(room, "m.space.parent", space) != parent:
            await self.client.send_state(room, "m.space.parent", parent, space, as_user=self.bot)
            sent += 1
        return sent

    def _space_body(self) -> dict[str, Any]:
        bots = {
            user_id(self.region.bot_localpart, ServerName(school)): 95
            for school in self.region.schools
            if school != self.server
        }
        # Remote servers are matched without their port, the local one with it: list both.
        hosts = {school.rsplit(":", 1)[0] for school in self.region.schools}
        allow = sorted(hosts | set(self.region.schools))
        acl = {"allow": allow, "deny": [], "allow_ip_literals": False}
        return {
            "room_alias_name": NETWORK_KEY,
            "name": self.region.name,
            "topic": "Сеть учителей школ региона: учительские для совместной и методической работы",
            "preset": "public_chat",
            "visibility": "private",
            "creation_content": {"type": "m.space", "m.federate": True},
            "initial_state": [
                {"type": "m.room.server_acl", "state_key": "", "content": acl},
                {
                    "type": "m.room.history_visibility",
                    "state_key": "",
                    "content": {"history_visibility": "world_readable"},
                },
            ],
            "power_level_content_override": {
                "users": bots,  # the creator (this bot) outranks everyone in room v12
                "events": {"m.space.child": 95, "m.room.server_acl": 100},
                "events_default": 95,
                "state_default": 100,
            },
        }
