"""A stored Diary comes back equal, and a damaged one is refused, not shrunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appservice.diary_sync.model import Diary, Enrollment, EnrollmentRole
from appservice.diary_sync.roster import load_roster
from appservice.diary_sync.snapshot import SnapshotError, from_snapshot, to_snapshot
from kernel.ids import SourcedId
from synthetic.school import generate_school

FIXTURES = Path(__file__).parent.parent / "fixtures" / "roster"


@pytest.mark.parametrize(
    "diary",
    [
        load_roster(FIXTURES / "v11"),
        load_roster(FIXTURES / "v12"),
        generate_school(60).diary,
        Diary(schools={}, classes={}, people={}),
    ],
    ids=["v11", "v12", "generated", "empty"],
)
def test_round_trip_through_json_is_equal(diary: Diary) -> None:
    stored = json.dumps(to_snapshot(diary), ensure_ascii=False)
    restored = from_snapshot(json.loads(stored))
    assert restored == diary
    assert {e.id for e in restored.enrollments} == {e.id for e in diary.enrollments}


def test_equal_diaries_give_identical_json() -> None:
    one, two = generate_school(60).diary, generate_school(60).diary
    assert json.dumps(to_snapshot(one)) == json.dumps(to_snapshot(two))


def good() -> dict[str, Any]:
    diary = Diary(
        schools={},
        classes={},
        people={},
        enrollments=frozenset(
            {Enrollment(SourcedId("c"), SourcedId("p"), EnrollmentRole.STUDENT, id=SourcedId("e"))}
        ),
    )
    return to_snapshot(diary)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(format="parta.diary/0"), "format"),
        (lambda d: d.pop("people"), "keys"),
        (lambda d: d.update(extra=1), "keys"),
        (lambda d: d.update(people={}), "list"),
        (lambda d: d["enrollments"][0].update(primary="yes"), "primary"),
        (lambda d: d["enrollments"][0].update(role="janitor"), "enrollments"),
        (lambda d: d.update(extensions={"users.csv": {"x": {"c": 1}}}), "extensions"),
    ],
    ids=["format", "missing key", "unknown key", "not a list", "bool", "enum", "extension"],
)
def test_damaged_snapshot_is_refused(damage: Any, message: str) -> None:
    data = good()
    damage(data)
    with pytest.raises(SnapshotError, match=message):
        from_snapshot(data)
