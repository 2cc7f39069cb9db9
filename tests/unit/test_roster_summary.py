"""The numbers shown before a roster is applied."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from appservice.diary_sync.model import Role
from appservice.diary_sync.roster import load_roster
from appservice.diary_sync.summary import RosterSummary, format_summary, summarize

FIXTURES = Path(__file__).parent.parent / "fixtures" / "roster"


def test_summary_counts_the_v11_fixture() -> None:
    assert summarize(load_roster(FIXTURES / "v11")) == RosterSummary(
        schools=1,
        classes=1,
        subject_classes=1,
        people_by_role={Role.STUDENT: 3, Role.PARENT: 4, Role.TEACHER: 2, Role.ADMINISTRATOR: 1},
        students_with_parents=3,
        students_without_class=0,
        parent_links=4,
    )


def test_summary_notices_students_without_a_class_or_parents() -> None:
    diary = load_roster(FIXTURES / "v11")
    bare = replace(diary, enrollments=frozenset(), guardianships=frozenset())
    summary = summarize(bare)
    assert (summary.students_without_class, summary.students_with_parents) == (3, 0)


def test_format_is_russian_first_then_english() -> None:
    text = format_summary(summarize(load_roster(FIXTURES / "v11")))
    lines = text.splitlines()
    assert "Классы (classes): 1" in lines
    assert "Ученики (students): 3" in lines
    assert "Связи родитель–ученик (parent links): 4" in lines
    assert len(lines) == 10
