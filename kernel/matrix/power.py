"""Who may do what in a room: the power-level rule, with room version 12's creators. Pure.

From room version 12 on (and MSC4289's unstable ``org.matrix.hydra.11``) the room's creators
— the create event's sender and its ``additional_creators`` — outrank every power level and
are not listed in ``m.room.power_levels``. Reading only the ``users`` map gets them wrong
(matrix-js-sdk 37 reports them as 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CREATOR_VERSIONS = frozenset({"12", "org.matrix.hydra.11"})
CREATOR = 1_000_000
"""Above any level a room can set (levels are bounded by the spec's integer range in
practice far below this): a creator may do anything."""


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class PowerLevels:
    users: Mapping[str, int] = field(default_factory=dict)
    users_default: int = 0
    events: Mapping[str, int] = field(default_factory=dict)
    events_default: int = 0
    state_default: int = 50
    creators: frozenset[str] = frozenset()

    @classmethod
    def of(cls, content: Mapping[str, Any], create: Mapping[str, Any] | None = None) -> PowerLevels:
        """From a room's ``m.room.power_levels`` content and its ``m.room.create`` *event*
        (sender and content), or ``None`` when the create event is not known."""
        users = content.get("users")
        events = content.get("events")
        return cls(
            {str(u): _int(v, 0) for u, v in users.items()} if isinstance(users, dict) else {},
            _int(content.get("users_default"), 0),
            {str(e): _int(v, 0) for e, v in events.items()} if isinstance(events, dict) else {},
            _int(content.get("events_default"), 0),
            _int(content.get("state_default"), 50),
            creators_of(create) if create is not None else frozenset(),
        )

    def of_user(self, user: str) -> int:
        if user in self.creators:
            return CREATOR
        return self.users.get(user, self.users_default)

    def to_send(self, event_type: str, state: bool = False) -> int:
        default = self.state_default if state else self.events_default
        return self.events.get(event_type, default)

    def may_send(self, user: str, event_type: str, state: bool = False) -> bool:
        return self.of_user(user) >= self.to_send(event_type, state)


def creators_of(create: Mapping[str, Any]) -> frozenset[str]:
    content = create.get("content")
    content = content if isinstance(content, dict) else {}
    if str(content.get("room_version", "1")) not in CREATOR_VERSIONS:
        return frozenset()
    extra = content.get("additional_creators")
    found = {str(u) for u in extra if isinstance(u, str)} if isinstance(extra, list) else set()
    sender = create.get("sender")
    return frozenset({*found, *([sender] if isinstance(sender, str) else [])})
