"""Safe mode, as a table: who may invite whom, create rooms, join rooms that federate."""

from __future__ import annotations

from datetime import time

import pytest

from appservice.diary_sync.safety import (
    FEDERATED_ROOM,
    NO_ROOMS_FOR_STUDENTS,
    OUTSIDE_CIRCLE,
    STUDENT_OUTWARD,
    Decision,
    Rules,
    School,
    in_quiet_hours,
    may_create_room,
    may_invite,
    may_join,
)
from parta.config import parse_quiet_hours
from parta.ids import SourcedId, UserID
from tests.school import small_school

DIARY = small_school("sf")
BOT = UserID("@parta:school.test")
SCHOOL = School.of(DIARY, {pid: UserID(f"@{pid}:school.test") for pid in DIARY.people}, BOT)
RULES = Rules()


def u(local: str) -> UserID:
    return UserID(f"@sf-{local}:school.test")


@pytest.mark.parametrize(
    ("inviter", "invitee", "federates", "expected"),
    [
        (u("t1"), u("s1"), False, Decision(True)),  # class teacher of 5А
        (u("t3"), u("s1"), False, Decision(True)),  # any teacher of the school
        (u("a1"), u("s1"), False, Decision(True)),  # the administration
        (u("p1"), u("s1"), False, Decision(True)),  # own parent
        (u("s2"), u("s1"), False, Decision(True)),  # classmate
        (u("p3"), u("s1"), False, Decision(False, OUTSIDE_CIRCLE)),  # a parent of 6А
        (u("s4"), u("s1"), False, Decision(False, OUTSIDE_CIRCLE)),  # a pupil of 5Б
        (UserID("@x:other.example"), u("s1"), False, Decision(False, OUTSIDE_CIRCLE)),
        (u("t1"), u("s1"), True, Decision(False, FEDERATED_ROOM)),  # never into federation
        (BOT, u("s1"), False, Decision(True)),  # the diary's own invites
        (BOT, u("s1"), True, Decision(False, FEDERATED_ROOM)),
        (u("s1"), u("p3"), False, Decision(False, STUDENT_OUTWARD)),  # a stranger adult
        (u("s1"), u("t2"), False, Decision(True)),
        (u("p3"), u("t1"), True, Decision(True)),  # adults among themselves: no rule
    ],
)
def test_who_may_invite_whom(
    inviter: UserID, invitee: UserID, federates: bool, expected: Decision
) -> None:
    assert may_invite(SCHOOL, RULES, inviter, invitee, federates) == expected


def test_students_invite_nobody_when_the_school_says_so_except_where_it_allows() -> None:
    strict = Rules(
        students_may_invite=False,
        class_overrides={SourcedId("sf-5a"): {"students_may_invite": True}},
    )
    assert may_invite(SCHOOL, strict, u("s1"), u("s2"), False).allowed  # 5А is allowed
    refused = may_invite(SCHOOL, strict, u("s4"), u("s5"), False)  # 5Б is not
    assert refused == Decision(False, STUDENT_OUTWARD)


def test_students_create_no_rooms_unless_their_class_or_they_may() -> None:
    assert may_create_room(SCHOOL, RULES, u("s1")) == Decision(False, NO_ROOMS_FOR_STUDENTS)
    assert may_create_room(SCHOOL, RULES, u("t1")).allowed
    assert may_create_room(SCHOOL, RULES, u("p1")).allowed
    by_class = Rules(class_overrides={SourcedId("sf-5a"): {"students_may_create_rooms": True}})
    assert may_create_room(SCHOOL, by_class, u("s1")).allowed
    assert not may_create_room(SCHOOL, by_class, u("s4")).allowed
    person_first = Rules(
        class_overrides={SourcedId("sf-5a"): {"students_may_create_rooms": True}},
        person_overrides={SourcedId("sf-s2"): {"students_may_create_rooms": False}},
    )
    assert not may_create_room(SCHOOL, person_first, u("s2")).allowed


def test_students_never_join_rooms_that_federate() -> None:
    assert may_join(SCHOOL, u("s1"), True) == Decision(False, FEDERATED_ROOM)
    assert may_join(SCHOOL, u("s1"), False).allowed
    assert may_join(SCHOOL, u("t1"), True).allowed
    assert may_join(SCHOOL, UserID("@someone:other.example"), True).allowed


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
