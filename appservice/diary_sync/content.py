"""Matrix event contents for the school's rooms (pure): one ``createRoom`` body each.

Everything a room needs is sent in the ``createRoom`` call itself (join rule,
history visibility, guest access, space parent, powers), because each separate
state event is a cost that thousands of rooms multiply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appservice.diary_sync.layout import Levels, RoomSpec
from kernel.ids import RoomID, ServerName, UserID

_MOD = Levels.TEACHER
_HEAD = Levels.CLASS_TEACHER
_ADMIN = Levels.ADMINISTRATION

# The preset's ``events`` map would survive a shallow override: replace it whole,
# so a teacher cannot rename a class chat or change who may join it.
EVENT_LEVELS: Mapping[str, int] = {
    "m.room.name": _HEAD,
    "m.room.topic": _MOD,
    "m.room.avatar": _HEAD,
    "m.room.pinned_events": _MOD,
    "m.room.power_levels": _HEAD,
    "m.room.history_visibility": _ADMIN,
    "m.room.canonical_alias": _ADMIN,
    "m.room.join_rules": _ADMIN,
    "m.room.guest_access": _ADMIN,
    "m.room.encryption": _ADMIN,
    "m.room.server_acl": 100,
    "m.room.tombstone": 100,
    "m.room.retention": 100,
    "m.space.child": _ADMIN,
    "m.space.parent": _ADMIN,
    "im.vector.modular.widgets": _MOD,
    "m.widget": _MOD,
}


def power_levels(spec: RoomSpec, users: Mapping[UserID, int]) -> dict[str, Any]:
    return {
        "users": dict(sorted(users.items())),
        "users_default": 0,
        "events_default": spec.events_default,
        "state_default": _HEAD,
        "invite": _MOD,
        "kick": _MOD,
        "ban": _HEAD,
        "redact": _MOD,
        "events": dict(EVENT_LEVELS),
        "notifications": {"room": _MOD},
    }


def create_room_body(
    spec: RoomSpec,
    users: Mapping[UserID, int],
    space_id: RoomID | None,
    server: ServerName,
    closed_space: bool = False,
    retention_ms: int | None = None,
) -> dict[str, Any]:
    creation: dict[str, Any] = {"m.federate": spec.federate}
    if spec.is_space:
        creation["type"] = "m.space"
    state: list[dict[str, Any]] = [
        _state("m.room.history_visibility", {"history_visibility": "shared"}),
        _state("m.room.guest_access", {"guest_access": "forbidden"}),
    ]
    if retention_ms is not None:
        state.append(_state(RETENTION, retention(retention_ms)))
    if space_id is None:
        # The space itself: joining is gated by the school policy module, which admits
        # exactly the people the diary puts in the school. A school that federates makes
        # it invite-only: other servers are shown the summary of any public room, even
        # one that does not federate.
        rule = "invite" if closed_space and spec.is_space else "public"
        state.append(_state("m.room.join_rules", {"join_rule": rule}))
    else:
        allow = [{"type": "m.room_membership", "room_id": space_id}]
        state.append(_state("m.room.join_rules", {"join_rule": "restricted", "allow": allow}))
        parent = {"via": [server], "canonical": True}
        state.append(_state("m.space.parent", parent, space_id))
    return {
        "room_alias_name": spec.key,
        "name": spec.name,
        "topic": spec.topic,
        "preset": "private_chat",
        "visibility": "private",
        "creation_content": creation,
        "initial_state": state,
        "power_level_content_override": power_levels(spec, users),
    }


RETENTION = "m.room.retention"


def retention(max_lifetime_ms: int | None) -> dict[str, Any]:
    """``m.room.retention`` (MSC1763, as Synapse reads it): an empty one sets no period."""
    return {} if max_lifetime_ms is None else {"max_lifetime": max_lifetime_ms}


def space_child(server: ServerName) -> dict[str, Any]:
    return {"via": [server]}


def _state(kind: str, content: Mapping[str, Any], state_key: str = "") -> dict[str, Any]:
    return {"type": kind, "state_key": state_key, "content": dict(content)}
