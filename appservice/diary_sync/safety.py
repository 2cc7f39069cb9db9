"""Safe mode: who may reach a student, who may create rooms, who may join what. Pure.

The homeserver's policy module asks the appservice, which answers from the last
synced diary and the accounts it linked — roles come from the school's records,
never from display names or guesses.

    inviter ─invite─▶ invitee            a student's circle: the school's staff, the
         student on either side? ─▶      student's classmates (same homeroom) and
         the other must be in the        their own parents; nobody else, and nobody
         student's circle, the room      from another server
         must not federate
    student ─create room─▶ refused unless the class or the person is allowed to
    student ─join─▶ refused into any room that federates

Every refusal carries the reason shown to the person, in Russian then English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from parta.ids import SourcedId, UserID

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
    """The appservice's own user: it invites on the diary's behalf."""

    @classmethod
    def of(
        cls, diary: Diary, accounts: Mapping[SourcedId, UserID], bot: UserID | None = None
    ) -> School:
        homerooms: dict[SourcedId, set[SourcedId]] = {}
        for e in diary.enrollments:
            klass = diary.classes.get(e.class_id)
            if e.role is EnrollmentRole.STUDENT and klass and klass.kind is ClassKind.HOMEROOM:
                homerooms.setdefault(e.person_id, set()).add(e.class_id)
        return cls(
            diary,
            {user: person for person, user in accounts.items()},
            {p: frozenset(c) for p, c in homerooms.items()},
            bot,
        )

    def role(self, user: UserID) -> Role | None:
        person = self.people.get(user)
        found = self.diary.people.get(person) if person else None
        return found.role if found else None

    def is_student(self, user: UserID) -> bool:
        return self.role(user) is Role.STUDENT

    def in_circle(self, student: SourcedId, other: UserID) -> bool:
        """Staff of the school, a classmate, or the student's own parent."""
        person = self.people.get(other)
        who = self.diary.people.get(person) if person else None
        if who is None:
            return False
        if who.role.is_staff:
            return True
        if who.role is Role.PARENT:
            return person in self.diary.parents_of(student)
        mine = self.homerooms.get(student, frozenset())
        return who.role is Role.STUDENT and bool(mine & self.homerooms.get(who.id, frozenset()))


def may_invite(
    school: School, rules: Rules, inviter: UserID, invitee: UserID, federates: bool
) -> Decision:
    if school.is_student(invitee):
        if federates:
            return Decision(False, FEDERATED_ROOM)
        if inviter != school.school_bot and not school.in_circle(school.people[invitee], inviter):
            return Decision(False, OUTSIDE_CIRCLE)
    if school.is_student(inviter):
        student = school.people[inviter]
        classes = school.homerooms.get(student, frozenset())
        if not rules.allows("students_may_invite", student, classes):
            return Decision(False, STUDENT_OUTWARD)
        if not school.in_circle(student, invitee):
            return Decision(False, STUDENT_OUTWARD)
    return ALLOW


def may_create_room(school: School, rules: Rules, creator: UserID) -> Decision:
    if not school.is_student(creator):
        return ALLOW
    student = school.people[creator]
    classes = school.homerooms.get(student, frozenset())
    if rules.allows("students_may_create_rooms", student, classes):
        return ALLOW
    return Decision(False, NO_ROOMS_FOR_STUDENTS)


def may_join(school: School, user: UserID, federates: bool) -> Decision:
    if federates and school.is_student(user):
        return Decision(False, FEDERATED_ROOM)
    return ALLOW


def in_quiet_hours(now: time, window: tuple[time, time]) -> bool:
    """Whether ``now`` falls in ``[start, end)``; a window may run past midnight."""
    start, end = window
    if start < end:
        return start <= now < end
    return now >= start or now < end
