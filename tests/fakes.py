"""An in-memory Matrix that applies the planner's actions the way Synapse would."""

from __future__ import annotations

from dataclasses import replace

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
from appservice.diary_sync.state import Actual, ActualRoom, Desired, Membership
from kernel.ids import RoomID


def apply(actual: Actual, actions: list[Action], desired: Desired) -> Actual:
    rooms = dict(actual.rooms)
    puppets = dict(actual.puppets)
    deactivated = set(actual.deactivated)
    moved = dict(actual.moved)
    for action in actions:
        match action:
            case MoveRoom(_old, key):
                moved.pop(key, None)
            case SetSendLevel(key, level):
                rooms[key] = replace(rooms[key], events_default=level)
            case Deactivate(user):
                deactivated.add(user)
            case Reactivate(user):
                deactivated.discard(user)
            case RegisterPuppet(user, name) | SetDisplayName(user, name):
                puppets[user] = name
            case CreateRoom(spec, power, kept):
                rooms[spec.key] = ActualRoom(
                    RoomID(f"!{spec.key}"),
                    spec.name,
                    spec.topic,
                    {},
                    dict(power),
                    retention_ms=kept,
                    events_default=spec.events_default,
                )
            case SetRetention(key, kept):
                rooms[key] = replace(rooms[key], retention_ms=kept)
            case AddChild(space, child):
                room = rooms[space]
                rooms[space] = replace(room, children=room.children | {rooms[child].room_id})
            case RemoveChild(space, child):
                room = rooms[space]
                rooms[space] = replace(room, children=room.children - {rooms[child].room_id})
            case SetName(key, name):
                rooms[key] = replace(rooms[key], name=name)
            case SetTopic(key, topic):
                rooms[key] = replace(rooms[key], topic=topic)
            case SetPower(key, users):
                rooms[key] = replace(rooms[key], power=dict(users))
            case Join(key, user) | Invite(key, user):
                kind = Membership.JOIN if isinstance(action, Join) else Membership.INVITE
                rooms[key] = replace(rooms[key], members={**rooms[key].members, user: kind})
            case Remove(key, user):
                members = {u: m for u, m in rooms[key].members.items() if u != user}
                rooms[key] = replace(rooms[key], members=members)
    managed = actual.managed | puppets.keys() | desired.invitees
    return Actual(rooms, puppets, frozenset(managed), frozenset(deactivated), moved)
