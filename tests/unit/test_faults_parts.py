"""The fault harness's pure parts: the day's change to the diary, and the report."""

from __future__ import annotations

import random

from appservice.diary_sync.model import ClassKind, EnrollmentRole, Role
from kernel.ids import SourcedId
from parta.bench.faults import Harness, Report, run_rounds
from parta.bench.faults_school import NEWCOMERS, Check, mutate
from synthetic.school import generate_school


def test_a_change_adds_a_homeroom_with_its_teacher_newcomers_and_their_parents() -> None:
    before = generate_school(24, seed=3).diary
    after = mutate(before, random.Random(1), 7)  # noqa: S311 - a test's choices
    new = after.classes[SourcedId("cls-fault-7")]
    assert new.kind is ClassKind.HOMEROOM
    members = {e.person_id: e for e in after.enrollments if e.class_id == new.id}
    teachers = [e for e in members.values() if e.role is EnrollmentRole.TEACHER]
    assert len(teachers) == 1
    assert teachers[0].primary
    pupils = [p for p, e in members.items() if e.role is EnrollmentRole.STUDENT]
    assert len(pupils) == NEWCOMERS + 1  # the newcomers and one pupil moved in
    added = set(after.people) - set(before.people)
    assert sum(after.people[p].role is Role.PARENT for p in added) == NEWCOMERS
    homerooms = {c for c, k in after.classes.items() if k.kind is ClassKind.HOMEROOM}
    for pupil in pupils:  # nobody in two homerooms
        theirs = {
            e.class_id
            for e in after.enrollments
            if e.person_id == pupil and e.role is EnrollmentRole.STUDENT and e.class_id in homerooms
        }
        assert theirs == {new.id}


def test_the_report_counts_violations_and_faults_in_the_window_per_kind() -> None:
    report = Report(rounds=2, seed=1)
    held = [Check("a", True), Check("b", True)]
    report.add("k", held, 1.0, Check("point", True, "mid-way"))
    report.add("k", [Check("a", False, "2 missing"), *held], 2.0, Check("point", False, "late"))
    report.add("j", held, 0.5, Check("point", True, "mid-way"))
    figures = report.to_json()
    assert figures["faults"] == 3
    assert figures["violations"] == report.violations == 1
    assert figures["by_kind"]["k"]["in_window"] == 1
    assert figures["by_kind"]["k"]["failed"] == ["a: 2 missing (late)"]
    assert figures["by_kind"]["j"]["violations"] == 0


def test_a_failure_the_component_logged_as_its_own_is_a_known_gap_not_a_violation() -> None:
    report = Report(rounds=1, seed=1)
    lost = Check("every message reached the store", False, "1 missing", "Synapse logged it")
    report.add("postgres-restart", [lost], 1.0, Check("point", True))
    figures = report.to_json()
    assert figures["violations"] == 0
    assert figures["known_gaps"] == 1
    assert "Synapse logged it" in figures["by_kind"]["postgres-restart"]["failed"][0]


async def test_a_round_that_raises_is_a_violation_and_the_run_goes_on() -> None:
    ran: list[int] = []

    async def broken(harness: Harness, n: int) -> list[Check]:
        ran.append(n)
        raise RuntimeError("403 not in room")

    harness = Harness.__new__(Harness)
    harness.say = lambda _line: None
    report = await run_rounds(harness, {"broken": broken}, rounds=2, seed=0)
    assert ran == [0, 1]
    assert report.violations == 2
    assert "403 not in room" in report.by_kind["broken"]["failed"][0]
