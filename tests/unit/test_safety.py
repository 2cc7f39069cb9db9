"""Safe mode, as tables and a property: who may be in a room with a student, who may create
or open rooms, whom the directory shows."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appservice.diary_sync.model import Diary, Role
from appservice.diary_sync.safety import (
    DIRECT_NEEDS_ONE,
    DIRECT_NO_POWERS,
    FEDERATED_ROOM,
    NO_ROOMS_FOR_STUDENTS,
    OPEN_ROOM,
    OUTSIDE_CIRCLE,
    STUDENT_OUTWARD,
    Decision,
    NewRoom,
    RoomFacts,
    Rules,
    School,
    in_quiet_hours,
    may_create_room,
    may_enter,
    may_join,
    may_open,
    may_see,
)
from kernel.config import parse_quiet_hours
from kernel.ids import SourcedId, UserID
from tests.school import small_school

DIARY = small_school("sf")
BOT = UserID("@parta:school.test")
SCHOOL = School.of(DIARY, {pid: UserID(f"@{pid}:school.test") for pid in DIARY.people}, BOT)
RULES = Rules()
REMOTE = UserID("@x:other.example")


def u(local: str) -> UserID:
    return UserID(f"@sf-{local}:school.test")


def room(*members: UserID, federates: bool = False, open_: bool = False) -> RoomFacts:
    return RoomFacts(frozenset(members), federates, open_)


OK = Decision(True)


@pytest.mark.parametrize(
    ("inviter", "invitee", "federates", "expected"),
    [
        (u("t1"), u("s1"), False, OK),  # class teacher of 5А
        (u("t3"), u("s1"), False, OK),  # any teacher of the school
        (u("a1"), u("s1"), False, OK),  # the administration
        (u("p1"), u("s1"), False, OK),  # own parent
        (u("s2"), u("s1"), False, OK),  # classmate
        (u("p3"), u("s1"), False, Decision(False, OUTSIDE_CIRCLE)),  # a parent of 6А
        (u("s4"), u("s1"), False, Decision(False, STUDENT_OUTWARD)),  # a pupil of 5Б
        (REMOTE, u("s1"), False, Decision(False, OUTSIDE_CIRCLE)),
        (u("t1"), u("s1"), True, Decision(False, FEDERATED_ROOM)),  # never into federation
        (BOT, u("s1"), False, OK),  # the bot is nobody's stranger...
        (BOT, u("s1"), True, Decision(False, FEDERATED_ROOM)),  # ...but keeps the rules
        (u("s1"), u("p3"), False, Decision(False, STUDENT_OUTWARD)),  # a stranger adult
        (u("s1"), u("t2"), False, OK),
        (u("p3"), u("t1"), True, OK),  # adults among themselves: no rule
    ],
)
def test_who_may_invite_whom_into_a_room_of_the_two(
    inviter: UserID, invitee: UserID, federates: bool, expected: Decision
) -> None:
    assert may_enter(SCHOOL, RULES, room(inviter, federates=federates), invitee, inviter) == (
        expected
    )


@pytest.mark.parametrize(
    ("members", "newcomer", "inviter", "expected"),
    [
        # a parent's room with her child: no other parent, whoever it is
        ((u("p1"), u("s1")), u("p3"), u("p1"), Decision(False, OUTSIDE_CIRCLE)),
        ((u("p1"), u("s1")), u("p2"), u("p1"), Decision(False, OUTSIDE_CIRCLE)),
        ((u("p1"), u("s1")), u("t3"), u("p1"), OK),
        # a classmate comes in: the parent is not hers
        ((u("p1"), u("s1")), u("s2"), u("p1"), Decision(False, OUTSIDE_CIRCLE)),
        # a teacher's room: pupils of other classes may meet there (a club)
        ((u("t1"), u("s1")), u("s4"), u("t1"), OK),
        ((u("t1"), u("s1"), u("s4")), u("p1"), u("t1"), Decision(False, OUTSIDE_CIRCLE)),
        # pupils alone: classmates only
        ((u("s1"), u("s2")), u("s4"), u("s1"), Decision(False, STUDENT_OUTWARD)),
        ((u("s1"), u("s2")), u("s3"), u("s2"), OK),
        # a join (no inviter) is held to the same rule
        ((u("t1"), u("s1")), u("p3"), None, Decision(False, OUTSIDE_CIRCLE)),
        ((u("t1"), u("p3")), u("s1"), u("t1"), Decision(False, OUTSIDE_CIRCLE)),
        ((u("t1"), u("p3")), u("s1"), None, Decision(False, OUTSIDE_CIRCLE)),
        # the bot in a room counts for nobody
        ((BOT, u("s1")), u("p3"), BOT, Decision(False, OUTSIDE_CIRCLE)),
        ((BOT, u("s1")), u("t2"), BOT, OK),
        # someone of another server next to a student
        ((u("t1"), REMOTE), u("s1"), u("t1"), Decision(False, OUTSIDE_CIRCLE)),
    ],
)
def test_every_member_of_a_room_with_a_student_is_within_her_circle(
    members: tuple[UserID, ...], newcomer: UserID, inviter: UserID | None, expected: Decision
) -> None:
    assert may_enter(SCHOOL, RULES, room(*members), newcomer, inviter) == expected


def test_an_open_room_takes_no_student_and_no_one_next_to_one() -> None:
    refused = Decision(False, OPEN_ROOM)
    assert may_enter(SCHOOL, RULES, room(u("t1"), open_=True), u("s1"), u("t1")) == refused
    assert may_enter(SCHOOL, RULES, room(u("t1"), u("s1"), open_=True), u("t3")) == refused
    assert may_enter(SCHOOL, RULES, room(u("t1"), open_=True), u("p3")).allowed
    assert may_open(SCHOOL, [u("t1"), u("s1")]) == refused
    assert may_open(SCHOOL, [u("t1"), u("p3")]).allowed


def _two_schools() -> tuple[Diary, School]:
    one, two = small_school("sf"), small_school("zz")
    diary = Diary(
        {**one.schools, **two.schools},
        {**one.classes, **two.classes},
        {**one.people, **two.people},
        one.enrollments | two.enrollments,
        one.guardianships | two.guardianships,
    )
    accounts = {pid: UserID(f"@{pid}:school.test") for pid in diary.people}
    return diary, School.of(diary, accounts, BOT)


def test_a_district_keeps_each_schools_staff_to_its_own_pupils() -> None:
    _, district = _two_schools()
    other_teacher = UserID("@zz-t1:school.test")
    refused = may_enter(district, RULES, room(other_teacher), u("s1"), other_teacher)
    assert refused == Decision(False, OUTSIDE_CIRCLE)
    assert may_enter(district, RULES, room(u("t1")), u("s1"), u("t1")).allowed
    other_pupil = UserID("@zz-s4:school.test")  # a teacher's club does not span schools
    assert not may_enter(district, RULES, room(u("t1"), u("s1")), other_pupil, u("t1")).allowed


def test_students_invite_nobody_when_the_school_says_so_except_where_it_allows() -> None:
    strict = Rules(
        students_may_invite=False,
        class_overrides={SourcedId("sf-5a"): {"students_may_invite": True}},
    )
    assert may_enter(SCHOOL, strict, room(u("s1")), u("s2"), u("s1")).allowed  # 5А is allowed
    refused = may_enter(SCHOOL, strict, room(u("s4")), u("s5"), u("s4"))  # 5Б is not
    assert refused == Decision(False, STUDENT_OUTWARD)


def create(
    creator: UserID,
    direct: bool = False,
    invitees: tuple[UserID, ...] = (),
    open: bool = False,
    users_default: int = 0,
) -> NewRoom:
    return NewRoom(creator, direct, invitees, open, users_default)


def test_students_create_no_rooms_unless_their_class_or_they_may() -> None:
    assert may_create_room(SCHOOL, RULES, create(u("s1"))) == Decision(False, NO_ROOMS_FOR_STUDENTS)
    assert may_create_room(SCHOOL, RULES, create(u("t1"))).allowed
    assert may_create_room(SCHOOL, RULES, create(u("p1"))).allowed
    by_class = Rules(class_overrides={SourcedId("sf-5a"): {"students_may_create_rooms": True}})
    assert may_create_room(SCHOOL, by_class, create(u("s1"))).allowed
    assert not may_create_room(SCHOOL, by_class, create(u("s4"))).allowed
    person_first = Rules(
        class_overrides={SourcedId("sf-5a"): {"students_may_create_rooms": True}},
        person_overrides={SourcedId("sf-s2"): {"students_may_create_rooms": False}},
    )
    assert not may_create_room(SCHOOL, person_first, create(u("s2"))).allowed


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (create(u("s1"), direct=True, invitees=(u("s2"),)), OK),
        (create(u("s1"), direct=True), Decision(False, DIRECT_NEEDS_ONE)),
        (create(u("t1"), direct=True), Decision(False, DIRECT_NEEDS_ONE)),
        (
            create(u("s1"), direct=True, invitees=(u("s2"),), users_default=100),
            Decision(False, DIRECT_NO_POWERS),
        ),
        # a "direct" chat with three people is a group
        (
            create(u("s1"), direct=True, invitees=(u("s2"), u("s3"))),
            Decision(False, NO_ROOMS_FOR_STUDENTS),
        ),
        (create(u("s1"), direct=True, invitees=(u("s2"),), open=True), Decision(False, OPEN_ROOM)),
        (create(u("t1"), invitees=(u("s1"),), open=True), Decision(False, OPEN_ROOM)),
        (create(u("t1"), invitees=(u("p3"),), open=True), OK),
        (create(u("t1"), direct=True, invitees=(u("p3"),), users_default=0), OK),
    ],
)
def test_direct_and_open_rooms_on_creation(asked: NewRoom, expected: Decision) -> None:
    assert may_create_room(SCHOOL, RULES, asked) == expected


def test_students_never_join_diary_rooms_that_federate() -> None:
    assert may_join(SCHOOL, u("s1"), True) == Decision(False, FEDERATED_ROOM)
    assert may_join(SCHOOL, u("s1"), False).allowed
    assert may_join(SCHOOL, u("t1"), True).allowed
    assert may_join(SCHOOL, REMOTE, True).allowed


@pytest.mark.parametrize(
    ("viewer", "user", "shown"),
    [
        (u("s1"), u("p1"), True),  # her own parent
        (u("s1"), u("p3"), False),  # another class's parent
        (u("s1"), u("s2"), True),  # a classmate
        (u("s1"), u("s4"), False),  # another class's pupil
        (u("s1"), u("t4"), True),  # staff
        (u("p3"), u("s6"), True),  # her own child
        (u("p3"), u("s1"), False),  # somebody else's child
        (u("p3"), u("t1"), True),  # adults see adults
        (REMOTE, u("s1"), False),
        (u("s1"), REMOTE, False),
        (u("s1"), BOT, True),
        (u("s1"), u("s1"), True),
    ],
)
def test_the_directory_shows_a_student_only_her_circle(
    viewer: UserID, user: UserID, shown: bool
) -> None:
    assert may_see(SCHOOL, viewer, user) is shown


# -- the property: no student is ever in a room with an adult outside her circle --------------

PEOPLE = [*sorted(SCHOOL.people), REMOTE, BOT]


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, ...]]:
    person = st.sampled_from(PEOPLE)
    steps: list[tuple[str, ...]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["create", "invite", "join", "leave", "open"]))
        steps.append((kind, draw(person), draw(person), str(draw(st.integers(0, 5)))))
        if kind == "create":
            flags = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
            steps[-1] += tuple(str(int(f)) for f in flags)
    return steps


class _World:
    """Rooms as Synapse would hold them, every change asked of the rules first."""

    def __init__(self) -> None:
        self.rooms: list[tuple[dict[UserID, str], bool, bool]] = []  # members, federates, open

    def facts(self, index: int) -> RoomFacts:
        members, federates, is_open = self.rooms[index]
        return RoomFacts(frozenset(members), federates, is_open)

    def create(self, creator: UserID, invitee: UserID, flags: tuple[bool, ...]) -> None:
        direct, is_open, federates = flags
        asked = NewRoom(creator, direct, (invitee,), is_open)
        if not may_create_room(SCHOOL, RULES, asked).allowed:
            return
        local_only = SCHOOL.is_student(creator) or SCHOOL.is_student(invitee)
        self.rooms.append(({creator: "join"}, federates and not local_only, is_open))
        self.invite(len(self.rooms) - 1, creator, invitee)

    def invite(self, index: int, inviter: UserID, invitee: UserID) -> None:
        members = self.rooms[index][0]
        if members.get(inviter) != "join" or invitee in members:
            return
        if may_enter(SCHOOL, RULES, self.facts(index), invitee, inviter).allowed:
            members[invitee] = "invite"

    def join(self, index: int, user: UserID) -> None:
        members, _, is_open = self.rooms[index]
        if (members.get(user) == "invite" or is_open) and may_enter(
            SCHOOL, RULES, self.facts(index), user
        ).allowed:
            members[user] = "join"

    def open(self, index: int, by: UserID) -> None:
        members, federates, _ = self.rooms[index]
        if members.get(by) == "join" and may_open(SCHOOL, members).allowed:
            self.rooms[index] = (members, federates, True)


@settings(max_examples=400, deadline=None)
@given(operations())
def test_no_student_is_ever_in_a_room_with_an_adult_outside_her_circle(
    steps: list[tuple[str, ...]],
) -> None:
    world = _World()
    for kind, one, other, which, *flags in steps:
        a, b = UserID(one), UserID(other)
        index = int(which) % len(world.rooms) if world.rooms else -1
        if kind == "create":
            world.create(a, b, tuple(f == "1" for f in flags))
        elif index < 0:
            continue
        elif kind == "invite":
            world.invite(index, a, b)
        elif kind == "join":
            world.join(index, a)
        elif kind == "leave":
            world.rooms[index][0].pop(a, None)
        else:
            world.open(index, a)
        for members, federates, is_open in world.rooms:
            students = [m for m in members if SCHOOL.is_student(m)]
            for student in students:
                assert not federates
                assert not is_open
                for adult in members:
                    if adult in (student, BOT) or SCHOOL.role(adult) is Role.STUDENT:
                        continue
                    assert SCHOOL.in_circle(SCHOOL.people[student], adult), (student, adult)


@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        ("20:59", False),
        ("21:00", True),
        ("23:59", True),
        ("00:00", True),
        ("06:59", True),
        ("07:00", False),
        ("12:00", False),
    ],
)
def test_quiet_hours_run_past_midnight(now: str, quiet: bool) -> None:
    window = parse_quiet_hours("21:00-07:00")
    assert in_quiet_hours(time.fromisoformat(now), window) is quiet
    assert in_quiet_hours(time.fromisoformat(now), parse_quiet_hours("13:00-14:00")) is False


@pytest.mark.parametrize("bad", ["21:00", "9pm-7am", "25:00-07:00", "08:00-08:00"])
def test_malformed_quiet_hours_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|same time"):
        parse_quiet_hours(bad)
