"""Broken exports are refused with every problem, each naming file, line and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appservice.diary_sync.roster import Problem, RosterError, load_roster

FIXTURES = Path(__file__).parent.parent / "fixtures" / "roster"


def problems_of(source: Path) -> tuple[Problem, ...]:
    with pytest.raises(RosterError) as caught:
        load_roster(source)
    return caught.value.problems


def edit(folder: Path, file: str, old: str, new: str) -> None:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def v11(tmp_path: Path) -> Path:
    folder = tmp_path / "v11"
    shutil.copytree(FIXTURES / "v11", folder)
    return folder


# (case, file edited, old, new, expected file, line, column, reason fragment)
ROW_CASES = [
    (
        "missing column",
        "users.csv",
        ",givenName,",
        ",firstName,",
        "users.csv",
        1,
        "givenName",
        "missing",
    ),
    ("missing role column", "users.csv", ",role,", ",position,", "users.csv", 1, "role", "missing"),
    ("duplicate id", "users.csv", "par-4,", "par-3,", "users.csv", 11, "sourcedId", "duplicate"),
    (
        "unknown user",
        "enrollments.csv",
        "cls-5a-math,org-14,stu-2",
        "cls-5a-math,org-14,stu-7",
        "enrollments.csv",
        9,
        "userSourcedId",
        "unknown user 'stu-7'",
    ),
    (
        "unknown class",
        "enrollments.csv",
        "e3,active,2025-08-30T10:00:00.000Z,cls-5a,",
        "e3,active,2025-08-30T10:00:00.000Z,cls-6a,",
        "enrollments.csv",
        4,
        "classSourcedId",
        "unknown class",
    ),
    (
        "unknown role",
        "users.csv",
        "org-14,relative,",
        "org-14,uncle,",
        "users.csv",
        11,
        "role",
        "unknown role",
    ),
    (
        "unknown enrollment role",
        "enrollments.csv",
        "tch-1,aide,",
        "tch-1,janitor,",
        "enrollments.csv",
        7,
        "role",
        "unknown role",
    ),
    (
        "unknown class type",
        "classes.csv",
        ",scheduled,",
        ",lecture,",
        "classes.csv",
        3,
        "classType",
        "unknown classType",
    ),
    (
        "bad boolean",
        "enrollments.csv",
        "tch-1,teacher,true",
        "tch-1,teacher,yes",
        "enrollments.csv",
        2,
        "primary",
        "true or false",
    ),
    (
        "bad enabledUser",
        "users.csv",
        "2025-08-30T10:00:00.000Z,true,org-14,teacher,ivanova",
        "2025-08-30T10:00:00.000Z,да,org-14,teacher,ivanova",
        "users.csv",
        2,
        "enabledUser",
        "true or false",
    ),
    (
        "malformed date",
        "enrollments.csv",
        "2025-09-01,2026-05-31",
        "01.09.2025,2026-05-31",
        "enrollments.csv",
        2,
        "beginDate",
        "malformed date",
    ),
    (
        "malformed timestamp",
        "orgs.csv",
        "dist-1,active,2025-08-30T10:00:00.000Z",
        "dist-1,active,30.08.2025",
        "orgs.csv",
        2,
        "dateLastModified",
        "malformed date",
    ),
    (
        "malformed term date",
        "academicSessions.csv",
        "2026-05-31",
        "2026-13-31",
        "academicSessions.csv",
        2,
        "endDate",
        "malformed date",
    ),
    (
        "unknown school",
        "classes.csv",
        "scheduled,каб. 21,org-14",
        "scheduled,каб. 21,org-99",
        "classes.csv",
        3,
        "schoolSourcedId",
        "unknown school",
    ),
    (
        "district is no school",
        "classes.csv",
        "scheduled,каб. 21,org-14",
        "scheduled,каб. 21,dist-1",
        "classes.csv",
        3,
        "schoolSourcedId",
        "not a school",
    ),
    (
        "unknown org of a user",
        "users.csv",
        "true,org-14,teacher,petrov",
        "true,org-15,teacher,petrov",
        "users.csv",
        3,
        "orgSourcedIds",
        "unknown org",
    ),
    (
        "unknown agent",
        "users.csv",
        '"par-1,par-2"',
        '"par-1,par-9"',
        "users.csv",
        5,
        "agentSourcedIds",
        "unknown user 'par-9'",
    ),
    (
        "student agent of student",
        "users.csv",
        ",par-3,05",
        ",stu-1,05",
        "users.csv",
        6,
        "agentSourcedIds",
        "student",
    ),
    (
        "unknown status",
        "orgs.csv",
        "org-14,active",
        "org-14,deleted",
        "orgs.csv",
        3,
        "status",
        "unknown status",
    ),
    (
        "blank required value",
        "users.csv",
        "Иван,Смирнов",
        ",Смирнов",
        "users.csv",
        5,
        "givenName",
        "blank",
    ),
    ("unknown org type", "orgs.csv", ",district,", ",county,", "orgs.csv", 2, "type", "unknown"),
    (
        "unknown course",
        "classes.csv",
        "crs-5-math",
        "crs-6-math",
        "classes.csv",
        3,
        "courseSourcedId",
        "unknown course",
    ),
    (
        "too many fields",
        "courses.csv",
        "M5,05,org-14,Математика,",
        "M5,05,org-14,Математика,,x",
        "courses.csv",
        2,
        "",
        "fields",
    ),
    (
        "unknown manifest mode",
        "manifest.csv",
        "file.courses,bulk",
        "file.courses,full",
        "manifest.csv",
        8,
        "value",
        "bulk, delta or absent",
    ),
    (
        "unsupported version",
        "manifest.csv",
        "oneroster.version,1.1",
        "oneroster.version,2.0",
        "manifest.csv",
        3,
        "value",
        "version",
    ),
    (
        "delta without a base",
        "manifest.csv",
        "file.users,bulk",
        "file.users,delta",
        "manifest.csv",
        16,
        "value",
        "previous import",
    ),
    (
        "users absent",
        "manifest.csv",
        "file.users,bulk",
        "file.users,absent",
        "manifest.csv",
        16,
        "value",
        "required",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "where", "line", "column", "reason"),
    [case[1:] for case in ROW_CASES],
    ids=[case[0] for case in ROW_CASES],
)
def test_broken_row_is_refused_at_its_cell(
    v11: Path, file: str, old: str, new: str, where: str, line: int, column: str, reason: str
) -> None:
    edit(v11, file, old, new)
    found = problems_of(v11)
    matching = [p for p in found if (p.file, p.line, p.column) == (where, line, column)]
    assert matching, [str(p) for p in found]
    assert reason in matching[0].reason


@pytest.mark.parametrize(
    ("remove", "where"),
    [("courses.csv", "courses.csv"), ("users.csv", "users.csv")],
)
def test_missing_file_is_a_file_level_problem(v11: Path, remove: str, where: str) -> None:
    (v11 / remove).unlink()
    assert (where, 0, "") in {(p.file, p.line, p.column) for p in problems_of(v11)}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"sourcedId,name\n\x98\x98\n", "UTF-8"),
        (b"", "empty"),
        (b'sourcedId,name,type\nx,"name,school\n', "CSV"),
        (b"sourcedId,name,type\nx," + b"a" * 200_000 + b",school\n", "CSV"),
    ],
    ids=["undecodable", "empty", "unterminated quote", "huge field"],
)
def test_unreadable_file_is_a_problem_not_a_traceback(
    v11: Path, content: bytes, reason: str
) -> None:
    (v11 / "orgs.csv").write_bytes(content)
    found = problems_of(v11)
    assert any(p.file == "orgs.csv" and reason in p.reason for p in found), found


def test_every_problem_across_files_is_reported_once() -> None:
    found = problems_of(FIXTURES / "broken")
    assert [str(p) for p in found] == [
        "users.csv:11:role: unknown role 'uncle'",
        "classes.csv:3:classType: unknown classType 'lecture'",
        "enrollments.csv:8:userSourcedId: unknown user 'stu-9'",
    ]


def test_error_message_lists_problems() -> None:
    with pytest.raises(RosterError, match="3 problem") as caught:
        load_roster(FIXTURES / "broken")
    assert "classes.csv:3:classType" in str(caught.value)


@pytest.mark.parametrize("name", ["nowhere", "note.txt"])
def test_source_that_is_neither_folder_nor_zip(tmp_path: Path, name: str) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("hello", encoding="utf-8")
    (problem,) = problems_of(tmp_path / name)
    assert (problem.file, problem.line, problem.column) == (name, 0, "")


def test_line_is_where_a_multiline_record_starts(v11: Path) -> None:
    edit(v11, "classes.csv", "каб. 12", '"каб.\n12"')
    edit(v11, "classes.csv", ",scheduled,", ",lecture,")
    (problem,) = problems_of(v11)
    assert (problem.line, problem.column) == (4, "classType")


def test_problem_str_names_file_line_column() -> None:
    assert str(Problem("users.csv", 5, "role", "unknown role 'x'")) == (
        "users.csv:5:role: unknown role 'x'"
    )
