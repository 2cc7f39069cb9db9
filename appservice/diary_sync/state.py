"""Desired and actual Matrix state in Matrix terms (user ids, not diary ids).

::

    SchoolLayout ─┐
    accounts ─────┼─resolve──▶ Desired ─┐
    active people ┘                     ├─plan──▶ [Action, ...]
                      read(store+HS) ──▶ Actual ┘

``resolve`` decides who is *in* Matrix now: staff from the first sync, students
and parents once they link their profile (or everybody with ``eager``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from appservice.diary_sync.layout import RoomKey, RoomSpec, SchoolLayout
from appservice.diary_sync.model import Diary, Person
from kernel.ids import RoomID, ServerName, SourcedId, UserID, server_of


@dataclass(frozen=True)
class Account:
    """How a diary person appears in Matrix."""

    user_id: UserID
    puppet: bool
    """True: a user in the appservice's namespace that the sync acts as.
    False: an existing account (an adult's, maybe on another server) that is invited."""


class Membership(StrEnum):
    JOIN = "join"
    INVITE = "invite"


@dataclass(frozen=True)
class DesiredRoom:
    spec: RoomSpec
    members: frozenset[UserID]
    power: Mapping[UserID, int]
    retention_ms: int | None = None
    """``m.room.retention``'s ``max_lifetime``: messages older than this are deleted."""


@dataclass(frozen=True)
class Desired:
    rooms: Mapping[RoomKey, DesiredRoom]
    puppets: Mapping[UserID, str]
    """Puppets that must exist, with their display names."""
    invitees: frozenset[UserID] = frozenset()
    """Members that are not puppets: they are invited, never joined by force."""
    departed: frozenset[UserID] = frozenset()
    """Registered puppets of people no longer in the diary: their accounts stop working."""


@dataclass(frozen=True)
class ActualRoom:
    room_id: RoomID
    name: str = ""
    topic: str = ""
    members: Mapping[UserID, Membership] = field(default_factory=dict)
    power: Mapping[UserID, int] = field(default_factory=dict)
    children: frozenset[RoomID] = frozenset()
    retention_ms: int | None = None
    events_default: int = 0


@dataclass(frozen=True)
class Actual:
    rooms: Mapping[RoomKey, ActualRoom]
    puppets: Mapping[UserID, str]
    """Registered puppets and the display name they carry."""
    managed: frozenset[UserID] = frozenset()
    """Users the sync may remove: puppets and accounts linked to diary people."""
    deactivated: frozenset[UserID] = frozenset()
    """Puppets the sync deactivated when their person left the roster."""
    moved: Mapping[RoomKey, RoomKey] = field(default_factory=dict)
    """Rooms read under this year's key that the store still knows by last year's (new →
    old): the plan moves them (a new school year)."""


def resolve(
    layouts: tuple[SchoolLayout, ...],
    accounts: Mapping[SourcedId, Account],
    linked: frozenset[SourcedId],
    eager: bool = False,
    home: ServerName | None = None,
    retention_ms: int | None = None,
) -> Desired:
    """Desired Matrix state: active people only, each through their account.

    A person is active when they are staff, linked, or ``eager`` is set. An active
    person with no account yet gets a puppet (``accounts`` must hold one for them:
    the caller mints puppet ids). An account on another server than ``home`` is
    only put in rooms that federate: the others refuse it by construction.
    """
    rooms: dict[RoomKey, DesiredRoom] = {}
    puppets: dict[UserID, str] = {}
    invitees: set[UserID] = set()
    for layout in layouts:
        active = {
            pid
            for pid, person in layout.people.items()
            if eager or person.role.is_staff or pid in linked
        }
        for pid in sorted(active):
            account = accounts[pid]
            if account.puppet:
                puppets[account.user_id] = layout.people[pid].display_name
            else:
                invitees.add(account.user_id)
        for spec in layout.rooms:
            present = {
                p
                for p in spec.members
                if p in active and (spec.federate or _local(accounts[p], home))
            }
            members = {accounts[p].user_id for p in present}
            power = {accounts[p].user_id: lvl for p, lvl in spec.power if p in present}
            kept = None if spec.is_space else retention_ms
            rooms[spec.key] = DesiredRoom(spec, frozenset(members), power, kept)
    return Desired(rooms, puppets, frozenset(invitees))


def leavers(before: Diary | None, after: Diary) -> frozenset[SourcedId]:
    """People of ``after``'s schools in the last diary applied and not in this one.

    A person of another school (a store that served another diary) is nobody's leaver; a
    parent with no school of their own belongs where their children were.
    """
    if before is None:
        return frozenset()
    schools = after.schools.keys()
    children: dict[SourcedId, set[SourcedId]] = {}
    for g in before.guardianships:
        children.setdefault(g.parent_id, set()).add(g.student_id)

    def ours(person: Person) -> bool:
        if person.school_ids:
            return bool(person.school_ids & schools)
        kids = (before.people.get(k) for k in children.get(person.id, ()))
        return any(k is not None and k.school_ids & schools for k in kids)

    return frozenset(
        pid for pid, person in before.people.items() if pid not in after.people and ours(person)
    )


def _local(account: Account, home: ServerName | None) -> bool:
    return home is None or account.puppet or server_of(account.user_id) == home
