"""The plan: desired vs actual → an ordered list of idempotent actions (pure).

Properties the tests hold it to: ``plan(d, a) == []`` when ``a`` already is
``d``; applying ``plan(d, a)`` to ``a`` yields a state whose plan is empty; the
output is deterministic (sorted by phase, room, user).

Phases exist because Synapse needs some things first: a puppet's profile is set
before it joins anything (a later rename re-emits a member event in every room);
the space exists before rooms restricted to it; a restricted join needs the space
membership first; removals come last, so a moved student is never roomless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from appservice.diary_sync.layout import Levels, RoomKey, RoomSpec
from appservice.diary_sync.state import Actual, ActualRoom, Desired, DesiredRoom
from kernel.ids import RoomID, UserID


class Phase(IntEnum):
    ACCOUNTS = 0
    MOVES = 1
    PROFILES = 2
    SPACES = 3
    ROOMS = 4
    STATE = 5
    SPACE_MEMBERS = 6
    ROOM_MEMBERS = 7
    ROOM_REMOVALS = 8
    SPACE_REMOVALS = 9
    DEPARTURES = 10


@dataclass(frozen=True)
class MoveRoom:
    """A new school year: last year's room (5А) is this year's (6А), history and all; it
    answers to the new key from now on (its alias too), and is renamed by the state phase."""

    old: RoomKey
    room: RoomKey
    phase = Phase.MOVES


@dataclass(frozen=True)
class SetSendLevel:
    """The room's ``events_default``: who may write (an archived class: nobody)."""

    room: RoomKey
    level: int
    phase = Phase.STATE


@dataclass(frozen=True)
class Reactivate:
    """A person back in the roster: their deactivated account works again, before it
    rejoins anything."""

    user_id: UserID
    phase = Phase.ACCOUNTS


@dataclass(frozen=True)
class Deactivate:
    """A person gone from the roster: after leaving every room, their account stops working
    (every session logged out, no login again). Erasure comes later (``parta people
    erase``), after the school's period."""

    user_id: UserID
    phase = Phase.DEPARTURES


@dataclass(frozen=True)
class RegisterPuppet:
    user_id: UserID
    display_name: str
    phase = Phase.PROFILES


@dataclass(frozen=True)
class SetDisplayName:
    user_id: UserID
    display_name: str
    phase = Phase.PROFILES


@dataclass(frozen=True)
class CreateRoom:
    """Create with all state in one ``createRoom``: name, topic, join rule, powers."""

    spec: RoomSpec
    power: tuple[tuple[UserID, int], ...]
    retention_ms: int | None = None

    @property
    def phase(self) -> Phase:
        return Phase.SPACES if self.spec.is_space else Phase.ROOMS


@dataclass(frozen=True)
class AddChild:
    space: RoomKey
    child: RoomKey
    phase = Phase.STATE


@dataclass(frozen=True)
class RemoveChild:
    """A room no longer named among its space's children (see :attr:`RoomSpec.listed`)."""

    space: RoomKey
    child: RoomKey
    phase = Phase.STATE


@dataclass(frozen=True)
class SetName:
    room: RoomKey
    name: str
    phase = Phase.STATE


@dataclass(frozen=True)
class SetTopic:
    room: RoomKey
    topic: str
    phase = Phase.STATE


@dataclass(frozen=True)
class SetRetention:
    """The room's ``m.room.retention`` (``None``: no period of its own)."""

    room: RoomKey
    max_lifetime_ms: int | None
    phase = Phase.STATE


@dataclass(frozen=True)
class SetPower:
    """Replace the ``users`` map of the room's power levels, other keys untouched."""

    room: RoomKey
    users: tuple[tuple[UserID, int], ...]
    phase = Phase.STATE


@dataclass(frozen=True)
class _Membership:
    room: RoomKey
    user_id: UserID
    is_space: bool

    @property
    def phase(self) -> Phase:
        return Phase.SPACE_MEMBERS if self.is_space else Phase.ROOM_MEMBERS


@dataclass(frozen=True)
class Join(_Membership):
    """A puppet joins (the restricted join rule admits it through the space)."""


@dataclass(frozen=True)
class Invite(_Membership):
    """Any other account is invited: it accepts from its own client."""


@dataclass(frozen=True)
class Remove:
    """A puppet leaves; anybody else is kicked (or their invite withdrawn)."""

    room: RoomKey
    user_id: UserID
    is_space: bool
    puppet: bool

    @property
    def phase(self) -> Phase:
        return Phase.SPACE_REMOVALS if self.is_space else Phase.ROOM_REMOVALS


Action = (
    (RegisterPuppet | SetDisplayName | CreateRoom | AddChild | RemoveChild | SetName | SetTopic)
    | (SetPower | SetRetention | SetSendLevel | Join | Invite | Remove)
    | (Reactivate | Deactivate | MoveRoom)
)


def plan(desired: Desired, actual: Actual) -> list[Action]:
    """Actions for every desired room, and for rooms the diary no longer has.

    A room in ``actual`` but not in ``desired`` (its class left the roster) is
    emptied of managed members; the room itself stays, with its history.
    """
    actions: list[Action] = [*_accounts(desired, actual), *_profiles(desired, actual)]
    actions.extend(MoveRoom(old, new) for new, old in sorted(actual.moved.items()))
    for key in sorted(desired.rooms):
        actions.extend(_room(key, desired, actual))
    for key in sorted(actual.rooms.keys() - desired.rooms.keys()):
        actions.extend(_orphan(key, actual))
    return sorted(actions, key=_order)


def _orphan(key: RoomKey, actual: Actual) -> Iterable[Action]:
    room = actual.rooms[key]
    is_space = False  # the space of a school in the diary is always desired
    for user in sorted(room.members.keys() & actual.managed):
        yield Remove(key, user, is_space, user in actual.puppets)


def _order(action: Action) -> tuple[int, str, str]:
    room = getattr(action, "room", None) or getattr(getattr(action, "spec", None), "key", "")
    user = getattr(action, "user_id", "") or getattr(action, "child", "")
    return (int(action.phase), str(room), str(user))


def _accounts(desired: Desired, actual: Actual) -> Iterable[Action]:
    for user in sorted(desired.departed - actual.deactivated):
        yield Deactivate(user)
    for user in sorted(actual.deactivated & desired.puppets.keys()):
        yield Reactivate(user)


def _profiles(desired: Desired, actual: Actual) -> Iterable[Action]:
    for user, name in desired.puppets.items():
        if user not in actual.puppets:
            yield RegisterPuppet(user, name)
        elif actual.puppets[user] != name:
            yield SetDisplayName(user, name)


def _room(key: RoomKey, desired: Desired, actual: Actual) -> Iterable[Action]:
    want = desired.rooms[key]
    have = actual.rooms.get(key)
    if have is None:
        yield CreateRoom(want.spec, tuple(sorted(want.power.items())), want.retention_ms)
        # What the room will look like once created: its state came with it.
        have = ActualRoom(
            RoomID(""),
            want.spec.name,
            want.spec.topic,
            power=dict(want.power),
            retention_ms=want.retention_ms,
            events_default=want.spec.events_default,
        )
    yield from _room_state(want, have, desired, actual)
    yield from _memberships(want, have, desired, actual)


def _room_state(
    want: DesiredRoom, have: ActualRoom, desired: Desired, actual: Actual
) -> Iterable[Action]:
    spec = want.spec
    if have.name != spec.name:
        yield SetName(spec.key, spec.name)
    if have.topic != spec.topic:
        yield SetTopic(spec.key, spec.topic)
    if have.retention_ms != want.retention_ms:
        yield SetRetention(spec.key, want.retention_ms)
    if have.events_default != spec.events_default:
        yield SetSendLevel(spec.key, spec.events_default)
    if spec.is_space:
        yield from _children(spec.key, have, desired, actual)
    users = merge_power(want.power, have.power, actual.managed | want.members)
    if users != dict(have.power):
        yield SetPower(spec.key, tuple(sorted(users.items())))


def _children(
    space: RoomKey, have: ActualRoom, desired: Desired, actual: Actual
) -> Iterable[Action]:
    for key, room in sorted(desired.rooms.items()):
        if room.spec.parent != space:
            continue
        child = actual.rooms.get(key)
        named = child is not None and child.room_id in have.children
        if room.spec.listed and not named:
            yield AddChild(space, key)
        elif named and not room.spec.listed:
            yield RemoveChild(space, key)


def merge_power(
    want: Mapping[UserID, int], have: Mapping[UserID, int], managed: frozenset[UserID]
) -> dict[UserID, int]:
    """Synced levels win; a level granted by hand (not a reserved value) survives.

    A managed user who holds a reserved level the diary no longer gives them
    loses it; anybody the sync does not manage keeps whatever they have.
    """
    users = {
        user: level
        for user, level in have.items()
        if not (user in managed and level in Levels.SYNCED)
    }
    users.update(want)
    return users


def _memberships(
    want: DesiredRoom, have: ActualRoom, desired: Desired, actual: Actual
) -> Iterable[Action]:
    spec = want.spec
    for user in sorted(want.members - have.members.keys()):
        if user in desired.puppets:
            yield Join(spec.key, user, spec.is_space)
        else:
            yield Invite(spec.key, user, spec.is_space)
    for user in sorted(have.members.keys() - want.members):
        if user in actual.managed:
            yield Remove(spec.key, user, spec.is_space, user in actual.puppets)


@dataclass(eq=False)  # not frozen: contextlib and asyncio set __traceback__ on it
class DestructivePlanError(Exception):
    """The plan removes more members (or accounts) than the guard allows: refuse unless
    forced."""

    removals: int
    memberships: int
    max_share: float
    what: str = "memberships"

    def __str__(self) -> str:
        return (
            f"the plan removes {self.removals} of {self.memberships} {self.what}, more than "
            f"{self.max_share:.0%}; check the roster, or re-run with --force"
        )


def guard(
    actions: Sequence[Action],
    actual: Actual,
    max_share: float = 0.2,
    floor: int = 20,
    staying: frozenset[UserID] = frozenset(),
) -> None:
    """Refuse an unusually destructive plan: more than ``max_share`` of members removed, or
    of accounts deactivated (a roster missing a grade must not switch off its pupils).

    Small absolute numbers (``floor``) always pass, so a small school can still move
    a class. A new school year moves everybody (grade rooms, subject teachers): then
    ``staying`` names who is still in some room, and only the others' removals count.
    """
    removals = sum(isinstance(a, Remove) and a.user_id not in staying for a in actions)
    memberships = sum(len(r.members) for r in actual.rooms.values())
    if removals > floor and removals > max_share * memberships:
        raise DestructivePlanError(removals, memberships, max_share)
    gone = sum(isinstance(a, Deactivate) for a in actions)
    if gone > floor and gone > max_share * len(actual.puppets):
        raise DestructivePlanError(gone, len(actual.puppets), max_share, "accounts")


def describe(action: Action) -> str:
    """One readable line per action, for ``parta sync --dry-run``."""
    match action:
        case RegisterPuppet(user, name):
            return f"новый пользователь (new user) {user} «{name}»"
        case SetDisplayName(user, name):
            return f"имя (display name) {user} → «{name}»"
        case CreateRoom(spec, _power, _retention):
            what = "пространство (space)" if spec.is_space else "чат (room)"
            return f"создать {what} «{spec.name}» #{spec.key}"
        case AddChild(space, child):
            return f"добавить в пространство (add to space) #{space} ← #{child}"
        case RemoveChild(space, child):
            return f"не показывать в пространстве (unlist from space) #{space} ← #{child}"
        case SetName(room, name):
            return f"название (name) #{room} → «{name}»"
        case SetTopic(room, _topic):
            return f"описание (topic) #{room}"
        case SetPower(room, users):
            return f"права (power levels) #{room}: {dict(users)}"
        case SetRetention(room, ms):
            days = "без срока" if ms is None else f"{ms // 86_400_000} дн."
            return f"срок хранения сообщений (retention) #{room}: {days}"
        case Join(room, user, _space):
            return f"вступить (join) {user} → #{room}"
        case Invite(room, user, _space):
            return f"пригласить (invite) {user} → #{room}"
        case Remove(room, user, _space, _puppet):
            return f"исключить (remove) {user} ← #{room}"
        case MoveRoom(old, room):
            return f"новый учебный год: чат #{old} становится #{room} (история сохраняется)"
        case SetSendLevel(room, level):
            return f"кто может писать (events_default) #{room}: {level}"
        case Deactivate(user):
            return f"выбыл из школы: отключить учётную запись (deactivate) {user}"
        case Reactivate(user):
            return f"вернулся в школу: включить учётную запись (reactivate) {user}"
    raise AssertionError(f"unknown action {action!r}")
