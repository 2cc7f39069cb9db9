"""Safe mode: who may be in a room with a student, who may create rooms, who sees whom. Pure.

The homeserver's policy module asks the appservice, which answers from the last
synced diary and the accounts it linked — roles come from the school's records,
never from display names, power levels or guesses.

The rule is about the room, not about who asks: whoever places a person in a room
(a teacher, a parent, a student, the school's bot, an invite link), on invite and on
join, every member of a room that holds a student must be within that student's circle::

    a student's circle: the staff of their school, their own parents, their classmates
    (same homeroom) — and other pupils of the school in a room a member of its staff is in
    (a teacher's club); nobody else, nobody from another server

    newcomer ─invite/join─▶ room (members joined or invited)
        no student among members + newcomer ─▶ allowed
        otherwise: the room must not federate, must not be open (public, knock,
        world-readable, guests), and each pair (student, other) the newcomer is in
        must be within the student's circle
    student ─create room─▶ refused unless the class or the person is allowed to
        (a direct chat with one person is not a group)
    anyone ─open a room holding a student─▶ refused
    viewer ─user directory─▶ a student is shown only to her circle, and sees only it

Every refusal carries the reason shown to the person, in Russian then English.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Person, Role
from kernel.ids import SourcedId, UserID

OUTSIDE_CIRCLE = (
    "Ученику могут писать только учителя и администрация его школы, одноклассники и его "
    "родители (a student can be reached only by their school's staff, classmates and parents)"
)
FEDERATED_ROOM = (
    "Ученики не могут быть в чатах, открытых для других серверов "
    "(students never join rooms that federate)"
)
NO_ROOMS_FOR_STUDENTS = (
    "Ученики не создают чаты: попросите учителя "
    "(students cannot create rooms in this school; ask a teacher)"
)
OPEN_ROOM = (
    "Чат, в котором есть ученики, не может быть открытым: в него входят только по приглашению "
    "(a room with students is never public: invitation only)"
)
DIRECT_NEEDS_ONE = (
    "Личный чат создаётся с одним собеседником: пригласите его "
    "(a direct chat is made with exactly one person: invite them)"
)
DIRECT_NO_POWERS = (
    "В личном чате нельзя дать права модератора всем участникам "
    "(a direct chat cannot make every member a moderator)"
)
STUDENT_OUTWARD = (
    "Ученик может приглашать только одноклассников, учителей своей школы и своих родителей "
    "(a student may invite only classmates, their school's staff and their parents)"
)


@dataclass(frozen=True)
class Rules:
    """A school's safe-mode settings, with per-class and per-person exceptions."""

    students_may_create_rooms: bool = False
    students_may_invite: bool = True
    """Within their circle only; off means students invite nobody."""
    class_overrides: Mapping[SourcedId, Mapping[str, bool]] = field(default_factory=dict)
    person_overrides: Mapping[SourcedId, Mapping[str, bool]] = field(default_factory=dict)

    def allows(self, rule: str, person: SourcedId, classes: frozenset[SourcedId]) -> bool:
        if rule in self.person_overrides.get(person, {}):
            return self.person_overrides[person][rule]
        for class_id in sorted(classes):
            if rule in self.class_overrides.get(class_id, {}):
                return self.class_overrides[class_id][rule]
        value: bool = getattr(self, rule)
        return value


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)


@dataclass(frozen=True)
class School:
    """The diary as the policy needs it: who is who, by Matrix user id."""

    diary: Diary
    people: Mapping[UserID, SourcedId]
    homerooms: Mapping[SourcedId, frozenset[SourcedId]]
    """Each student's homeroom classes."""
    school_bot: UserID | None = None
    """The appservice's own user: it makes rooms and invites, and is nobody's stranger."""
    parents: Mapping[SourcedId, frozenset[SourcedId]] = field(default_factory=dict)
    """Each student's parents."""

    @classmethod
    def of(
        cls, diary: Diary, accounts: Mapping[SourcedId, UserID], bot: UserID | None = None
    ) -> School:
        homerooms: dict[SourcedId, set[SourcedId]] = {}
        for e in diary.enrollments:
            klass = diary.classes.get(e.class_id)
            if e.role is EnrollmentRole.STUDENT and klass and klass.kind is ClassKind.HOMEROOM:
                homerooms.setdefault(e.person_id, set()).add(e.class_id)
        parents: dict[SourcedId, set[SourcedId]] = {}
        for g in diary.guardianships:
            parents.setdefault(g.student_id, set()).add(g.parent_id)
        return cls(
            diary,
            {user: person for person, user in accounts.items()},
            {p: frozenset(c) for p, c in homerooms.items()},
            bot,
            {p: frozenset(c) for p, c in parents.items()},
        )

    def person(self, user: UserID) -> Person | None:
        pid = self.people.get(user)
        return self.diary.people.get(pid) if pid else None

    def role(self, user: UserID) -> Role | None:
        found = self.person(user)
        return found.role if found else None

    def is_student(self, user: UserID) -> bool:
        return self.role(user) is Role.STUDENT

    def is_staff(self, user: UserID) -> bool:
        role = self.role(user)
        return role is not None and role.is_staff

    def in_circle(self, student: SourcedId, other: UserID, supervised: bool = False) -> bool:
        """Staff of the student's school, her own parent, a classmate — or, in a room a
        member of the school's staff is in (``supervised``), any pupil of her school."""
        who = self.person(other)
        mine = self.diary.people.get(student)
        if who is None or mine is None:
            return False
        if who.role.is_staff:
            return self._same_school(mine, who)
        if who.role is Role.PARENT:
            return who.id in self.parents.get(student, frozenset())
        if self.homerooms.get(student, frozenset()) & self.homerooms.get(who.id, frozenset()):
            return True
        return supervised and self._same_school(mine, who)

    def _same_school(self, one: Person, other: Person) -> bool:
        if one.school_ids and other.school_ids:
            return bool(one.school_ids & other.school_ids)
        return len(self.diary.schools) <= 1  # a roster that names no school: the only one


@dataclass(frozen=True)
class RoomFacts:
    """What the rule needs of a room that is not the diary's."""

    members: frozenset[UserID]
    """Joined or invited now, before the newcomer."""
    federates: bool = False
    open: bool = False
    """Anyone may join, knock or read it without an invitation."""


def may_enter(
    school: School,
    rules: Rules,
    room: RoomFacts,
    newcomer: UserID,
    inviter: UserID | None = None,
) -> Decision:
    """Whether ``newcomer`` may be invited into (by ``inviter``) or join ``room``."""
    if inviter is not None and school.is_student(inviter):
        outward = _student_invites(school, rules, inviter, newcomer)
        if not outward.allowed:
            return outward
    if newcomer == school.school_bot:
        return ALLOW
    others = room.members - {newcomer, school.school_bot}
    if not school.is_student(newcomer) and not any(school.is_student(m) for m in others):
        return ALLOW
    if room.federates:
        return Decision(False, FEDERATED_ROOM)
    if room.open:
        return Decision(False, OPEN_ROOM)
    supervised = any(school.is_staff(m) for m in others | {newcomer})
    if any(_apart(school, newcomer, other, supervised) for other in others):
        return Decision(False, OUTSIDE_CIRCLE)
    return ALLOW


def _apart(school: School, one: UserID, other: UserID, supervised: bool) -> bool:
    """Whether either of the two is a student the other is outside the circle of."""
    for student, peer in ((one, other), (other, one)):
        pid = school.people.get(student)
        if pid and school.is_student(student) and not school.in_circle(pid, peer, supervised):
            return True
    return False


def _student_invites(school: School, rules: Rules, inviter: UserID, invitee: UserID) -> Decision:
    student = school.people[inviter]
    classes = school.homerooms.get(student, frozenset())
    if not rules.allows("students_may_invite", student, classes):
        return Decision(False, STUDENT_OUTWARD)
    if not school.in_circle(student, invitee):
        return Decision(False, STUDENT_OUTWARD)
    return ALLOW


@dataclass(frozen=True)
class NewRoom:
    """What a ``createRoom`` asks for, as far as safe mode cares."""

    creator: UserID
    direct: bool = False
    invitees: tuple[UserID, ...] = ()
    open: bool = False
    users_default: int = 0


def may_create_room(school: School, rules: Rules, room: NewRoom) -> Decision:
    """Who may create which room; its invitations are checked one by one afterwards."""
    if room.direct and not room.invitees:
        return Decision(False, DIRECT_NEEDS_ONE)
    if room.direct and room.users_default > 0:
        return Decision(False, DIRECT_NO_POWERS)
    if room.open and holds_a_student(school, [room.creator, *room.invitees]):
        return Decision(False, OPEN_ROOM)
    if not school.is_student(room.creator):
        return ALLOW
    if room.direct and len(room.invitees) == 1:
        return ALLOW  # a personal chat; the invitation is what is checked
    student = school.people[room.creator]
    classes = school.homerooms.get(student, frozenset())
    if rules.allows("students_may_create_rooms", student, classes):
        return ALLOW
    return Decision(False, NO_ROOMS_FOR_STUDENTS)


def holds_a_student(school: School, users: Iterable[UserID]) -> bool:
    return any(school.is_student(user) for user in users)


def may_open(school: School, members: Iterable[UserID]) -> Decision:
    """Whether a room with these members may become public, knockable or readable by anyone."""
    return Decision(False, OPEN_ROOM) if holds_a_student(school, members) else ALLOW


def may_join(school: School, user: UserID, federates: bool) -> Decision:
    """A diary room: the diary chose its members; a student still never joins one that
    federates."""
    if federates and school.is_student(user):
        return Decision(False, FEDERATED_ROOM)
    return ALLOW


def may_see(school: School, viewer: UserID, user: UserID) -> bool:
    """The user directory: a student is shown only to her circle and is shown only it."""
    if viewer == user or school.school_bot in (viewer, user):
        return True
    return not _apart(school, viewer, user, supervised=False)


def in_quiet_hours(now: time, window: tuple[time, time]) -> bool:
    """Whether ``now`` falls in ``[start, end)``; a window may run past midnight."""
    start, end = window
    if start < end:
        return start <= now < end
    return now >= start or now < end
