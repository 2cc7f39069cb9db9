"""A delta export applied to the previous import: upserts, deletions and what hangs off them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from appservice.diary_sync.model import Diary, EnrollmentRole
from appservice.diary_sync.roster import RosterError, load_roster
from appservice.diary_sync.snapshot import from_snapshot, to_snapshot
from kernel.ids import SourcedId

FIXTURES = Path(__file__).parent.parent / "fixtures" / "roster"


@pytest.fixture(scope="module")
def base() -> Diary:
    return load_roster(FIXTURES / "v11")


@pytest.fixture(scope="module")
def applied(base: Diary) -> Diary:
    return load_roster(FIXTURES / "v11-delta", base=base)


def test_active_rows_add_people_and_enrollments(applied: Diary) -> None:
    assert applied.people[SourcedId("stu-4")].family_name == "Белов"
    assert SourcedId("stu-4") in applied.members_of(SourcedId("cls-5a"), EnrollmentRole.STUDENT)
    assert applied.parents_of(SourcedId("stu-4")) == {"par-2"}


def test_active_rows_replace_changed_people(applied: Diary) -> None:
    changed = applied.people[SourcedId("stu-2")]
    assert (changed.family_name, changed.phone) == ("Кузнецова-Белая", "+79120000099")


@pytest.mark.parametrize(
    ("gone", "check"),
    [
        ("par-3", lambda d: SourcedId("par-3") not in d.people),
        ("stu-3", lambda d: SourcedId("stu-3") not in d.people),
        ("stu-3 enrollment", lambda d: "e4" not in {e.id for e in d.enrollments}),
        ("stu-3 parents", lambda d: not d.parents_of(SourcedId("stu-3"))),
        ("par-3 link", lambda d: not d.parents_of(SourcedId("stu-2"))),
        ("e8", lambda d: "e8" not in {e.id for e in d.enrollments}),
    ],
)
def test_tobedeleted_rows_remove_what_hangs_off_them(
    applied: Diary, gone: str, check: Callable[[Diary], bool]
) -> None:
    assert check(applied), gone


def test_untouched_rows_are_kept(base: Diary, applied: Diary) -> None:
    assert applied.classes == base.classes
    assert applied.people[SourcedId("tch-1")] == base.people[SourcedId("tch-1")]
    assert applied.extensions["users.csv"] == base.extensions["users.csv"]
    assert applied.class_teacher(SourcedId("cls-5a")) == "tch-1"
    assert {e.id for e in applied.enrollments} == {"e1", "e2", "e3", "e5", "e6", "e7", "e10"}


def test_applying_the_same_delta_twice_changes_nothing(applied: Diary) -> None:
    assert load_roster(FIXTURES / "v11-delta", base=applied) == applied


def test_delta_applies_to_a_stored_snapshot_the_same(base: Diary, applied: Diary) -> None:
    restored = from_snapshot(to_snapshot(base))
    assert load_roster(FIXTURES / "v11-delta", base=restored) == applied


def test_delta_without_base_is_refused() -> None:
    with pytest.raises(RosterError) as caught:
        load_roster(FIXTURES / "v11-delta")
    (problem,) = caught.value.problems
    assert (problem.file, problem.column) == ("manifest.csv", "value")
    assert "previous import" in problem.reason


def test_delta_rows_need_status_and_timestamp(tmp_path: Path, base: Diary) -> None:
    folder = tmp_path / "delta"
    shutil.copytree(FIXTURES / "v11-delta", folder)
    path = folder / "enrollments.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("e10,active,", "e10,,"), encoding="utf-8"
    )
    with pytest.raises(RosterError) as caught:
        load_roster(folder, base=base)
    assert [(p.file, p.line, p.column) for p in caught.value.problems] == [
        ("enrollments.csv", 2, "status")
    ]


def test_delta_reference_to_a_deleted_person_is_refused(tmp_path: Path, base: Diary) -> None:
    folder = tmp_path / "delta"
    shutil.copytree(FIXTURES / "v11-delta", folder)
    path = folder / "enrollments.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("stu-4,student", "stu-3,student"),
        encoding="utf-8",
    )
    with pytest.raises(RosterError) as caught:
        load_roster(folder, base=base)
    assert [(p.file, p.line, p.column) for p in caught.value.problems] == [
        ("enrollments.csv", 2, "userSourcedId")
    ]


def test_bulk_export_with_a_base_replaces_it(applied: Diary, base: Diary) -> None:
    assert load_roster(FIXTURES / "v11", base=applied) == base


def test_deleting_a_school_drops_its_classes_and_enrollments(tmp_path: Path, base: Diary) -> None:
    folder = tmp_path / "delta"
    folder.mkdir()
    (folder / "manifest.csv").write_text(
        "propertyName,value\noneroster.version,1.1\nfile.orgs,delta\n", encoding="utf-8"
    )
    (folder / "orgs.csv").write_text(
        "sourcedId,status,dateLastModified,name,type\norg-14,tobedeleted,2025-10-01T00:00:00Z,,\n",
        encoding="utf-8",
    )
    diary = load_roster(folder, base=base)
    assert (diary.schools, diary.classes, diary.enrollments) == ({}, {}, frozenset())
    assert all(not p.school_ids for p in diary.people.values())
    assert len(diary.people) == len(base.people)
