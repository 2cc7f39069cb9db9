"""What OneRoster allows is accepted, warned about where it is odd, and refused only when
nothing can be synced: a delta checked alone, a class owned by a department, an enrollment
in another role than the person's own, a OneRoster 1.0 export (no manifest)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from appservice.diary_sync.layout import RoomKind, layout_diary
from appservice.diary_sync.model import EnrollmentRole
from appservice.diary_sync.roster import (
    FileChanges,
    Problem,
    RosterError,
    Severity,
    check_roster,
    load_roster,
)
from kernel.ids import SourcedId
from parta.cli import main

MANIFEST = """\
propertyName,value
oneroster.version,1.1
file.orgs,bulk
file.users,bulk
file.classes,bulk
file.enrollments,bulk
"""
ORGS = """\
sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
dist,,,Управление образования,district,,
sch,,,Школа № 1,school,,dist
dep,,,Кафедра математики,department,,sch
"""
USERS = """\
sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName
t1,,,true,sch,teacher,t1,Анна,Петрова
s1,,,true,sch,student,s1,Иван,Смирнов
s2,,,true,sch,student,s2,Олег,Попов
p1,,,true,sch,parent,p1,Ольга,Смирнова
"""
CLASSES = """\
sourcedId,status,dateLastModified,title,classType,schoolSourcedId
c1,,,5А,homeroom,sch
c2,,,5А Алгебра,scheduled,sch
"""
ENROLLMENTS = """\
sourcedId,status,dateLastModified,classSourcedId,userSourcedId,role,primary
e1,,,c1,t1,teacher,true
e2,,,c1,s1,student,false
e3,,,c1,s2,student,false
e4,,,c2,s1,student,false
e5,,,c2,t1,teacher,true
"""
BULK = {
    "manifest.csv": MANIFEST,
    "orgs.csv": ORGS,
    "users.csv": USERS,
    "classes.csv": CLASSES,
    "enrollments.csv": ENROLLMENTS,
}
DELTA = {
    "manifest.csv": """\
        propertyName,value
        oneroster.version,1.1
        file.users,delta
        file.enrollments,delta
        """,
    "users.csv": """\
        sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,familyName
        s3,active,2025-10-01T08:00:00Z,true,sch,student,Глеб,Белов
        s1,active,2025-10-01T08:00:00Z,true,sch,student,Иван,Смирнов-Белый
        s2,tobedeleted,2025-10-01T08:00:00Z,,,,,
        """,
    "enrollments.csv": """\
        sourcedId,status,dateLastModified,classSourcedId,userSourcedId,role,primary
        e6,active,2025-10-01T08:00:00Z,c1,s3,student,false
        e3,tobedeleted,2025-10-01T08:00:00Z,,,,
        """,
}


def write(folder: Path, files: dict[str, str], **changes: str) -> Path:
    """An export written by hand; ``changes`` replace whole files (``users_csv=...``)."""
    folder.mkdir()
    for name, text in files.items():
        text = changes.get(name.replace(".", "_"), text)
        (folder / name).write_text(dedent(text), encoding="utf-8")
    return folder


def where(problems: tuple[Problem, ...]) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.column) for p in problems]


def refused(source: Path) -> tuple[Problem, ...]:
    with pytest.raises(RosterError) as caught:
        check_roster(source)
    return caught.value.problems


# A class owned by a department


def test_a_department_class_goes_to_the_school_above_it_with_a_warning(tmp_path: Path) -> None:
    classes = CLASSES.replace("c2,,,5А Алгебра,scheduled,sch", "c2,,,5А Алгебра,scheduled,dep")
    roster = check_roster(write(tmp_path / "x", BULK, classes_csv=classes))
    assert roster.diary is not None
    assert roster.diary.classes[SourcedId("c2")].school_id == "sch"
    (warning,) = roster.warnings
    assert (warning.file, warning.line, warning.column) == ("classes.csv", 3, "schoolSourcedId")
    assert warning.severity is Severity.WARNING
    assert "department" in warning.reason
    assert "'sch'" in warning.reason


def test_a_department_two_levels_below_the_school_still_finds_it(tmp_path: Path) -> None:
    orgs = ORGS + "sub,,,Методобъединение,department,,dep\n"
    classes = CLASSES.replace("scheduled,sch", "scheduled,sub")
    roster = check_roster(write(tmp_path / "x", BULK, orgs_csv=orgs, classes_csv=classes))
    assert roster.diary is not None
    assert roster.diary.classes[SourcedId("c2")].school_id == "sch"


def test_a_class_with_no_school_above_its_org_is_refused(tmp_path: Path) -> None:
    orgs = ORGS.replace("department,,sch", "department,,dist")
    classes = CLASSES.replace("scheduled,sch", "scheduled,dep")
    problems = refused(write(tmp_path / "x", BULK, orgs_csv=orgs, classes_csv=classes))
    assert where(problems) == [("classes.csv", 3, "schoolSourcedId")]
    assert "no school is above it" in problems[0].reason


def test_a_teacher_of_a_department_belongs_to_its_school(tmp_path: Path) -> None:
    users = USERS.replace("t1,,,true,sch,", "t1,,,true,dep,")
    roster = check_roster(write(tmp_path / "x", BULK, users_csv=users))
    assert roster.diary is not None
    assert roster.diary.people[SourcedId("t1")].school_ids == {"sch"}
    assert roster.warnings == ()


# An enrollment in another role than the person's own


def test_a_student_enrolled_as_an_aide_is_kept_with_a_warning(tmp_path: Path) -> None:
    enrollments = ENROLLMENTS + "e6,,,c2,s2,aide,false\n"
    roster = check_roster(write(tmp_path / "x", BULK, enrollments_csv=enrollments))
    assert roster.diary is not None
    aide = next(e for e in roster.diary.enrollments if e.id == "e6")
    assert (aide.person_id, aide.role) == ("s2", EnrollmentRole.TEACHER)
    assert where(roster.warnings) == [("enrollments.csv", 7, "role")]
    assert "'s2' is a student" in roster.warnings[0].reason


def test_another_role_in_a_class_gives_no_room_and_no_power(tmp_path: Path) -> None:
    """Safety follows the primary role: the pupil-aide of a subject class gets no teacher's
    power in the class chat, and a pupil set as a homeroom's primary teacher heads nothing."""
    classes = CLASSES + "c3,,,6Б,homeroom,sch\n"
    enrollments = ENROLLMENTS + "e6,,,c2,s2,aide,false\ne7,,,c3,s2,teacher,true\n"
    enrollments += "e8,,,c3,p1,student,false\n"
    folder = write(tmp_path / "x", BULK, classes_csv=classes, enrollments_csv=enrollments)
    roster = check_roster(folder)
    assert roster.diary is not None
    assert len(roster.warnings) == 3
    assert roster.diary.class_teacher(SourcedId("c3")) is None
    (school,) = layout_diary(roster.diary)
    rooms = {(room.kind, room.key.rsplit(".", 1)[-1]): room for room in school.rooms}
    assert rooms[RoomKind.CLASS, "c1"].power_of(SourcedId("s2")) == 0
    assert rooms[RoomKind.CLASS, "c1"].power_of(SourcedId("t1")) > 0  # the control
    assert rooms[RoomKind.CLASS, "c3"].members == frozenset()
    assert SourcedId("s2") not in rooms[RoomKind.CLASS_PARENTS, "c3"].members


# OneRoster 1.0: no manifest

V10 = {
    "orgs.csv": """\
        sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
        sch,,,Школа № 1,school,,
        """,
    "users.csv": """\
        sourcedId,status,dateLastModified,orgSourcedIds,role,username,userId,givenName,familyName,identifier,email,sms,phone,agents
        t1,,,sch,teacher,t1,,Анна,Петрова,,,,,
        s1,,,sch,student,s1,,Иван,Смирнов,,,,,p1
        p1,,,sch,parent,p1,,Ольга,Смирнова,,,,+79120000001,s1
        s9,inactive,,sch,student,s9,,Выбывший,Ученик,,,,,
        """,
    "classes.csv": """\
        sourcedId,status,dateLastModified,title,grade,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedId,subjects
        c1,,,7В,07,,,homeroom,,sch,,
        """,
    "enrollments.csv": """\
        sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary
        e1,,,c1,sch,t1,teacher,true
        e2,,,c1,sch,s1,student,false
        """,
}


def test_a_oneroster_10_export_is_read_as_a_whole_export(tmp_path: Path) -> None:
    roster = check_roster(write(tmp_path / "x", V10))
    assert (roster.version, roster.is_delta, roster.warnings) == ("1.0", False, ())
    diary = roster.diary
    assert diary is not None
    assert set(diary.people) == {"t1", "s1", "p1"}  # an inactive row is left out
    assert diary.parents_of(SourcedId("s1")) == {"p1"}  # from 1.0's ``agents``
    assert diary.classes[SourcedId("c1")].grade == "7"  # from 1.0's ``grade``
    assert diary.class_teacher(SourcedId("c1")) == "t1"


def test_a_10_export_without_users_says_what_it_is_and_what_to_do(tmp_path: Path) -> None:
    files = {name: text for name, text in V10.items() if name != "users.csv"}
    (problem,) = refused(write(tmp_path / "x", files))
    assert (problem.file, problem.line) == ("users.csv", 0)
    assert "1.0" in problem.reason
    assert "manifest.csv" in problem.reason


def test_a_folder_of_other_files_is_no_oneroster_export(tmp_path: Path) -> None:
    (problem,) = refused(write(tmp_path / "x", {"students.csv": "id,name\n1,Иван\n"}))
    assert (problem.file, problem.line) == ("manifest.csv", 0)
    assert "neither" in problem.reason


# A delta checked alone


def test_a_delta_alone_is_checked_and_summarised_as_changes(tmp_path: Path) -> None:
    roster = check_roster(write(tmp_path / "delta", DELTA))
    assert roster.diary is None
    assert roster.changes == (
        FileChanges("users.csv", active=2, deleted=1),
        FileChanges("enrollments.csv", active=1, deleted=1),
    )


def test_a_delta_alone_refuses_a_reference_to_a_row_it_deletes(tmp_path: Path) -> None:
    enrollments = DELTA["enrollments.csv"].replace("c1,s3,student", "c1,s2,student")
    problems = refused(write(tmp_path / "delta", DELTA, enrollments_csv=enrollments))
    assert where(problems) == [("enrollments.csv", 2, "userSourcedId")]
    assert "deleted by this delta" in problems[0].reason


def test_a_delta_alone_still_checks_every_row(tmp_path: Path) -> None:
    users = DELTA["users.csv"].replace("sch,student,Глеб", "sch,pupil,Глеб")
    problems = refused(write(tmp_path / "delta", DELTA, users_csv=users))
    assert where(problems) == [("users.csv", 2, "role")]


def test_a_delta_with_its_base_counts_added_and_updated(tmp_path: Path) -> None:
    base = load_roster(write(tmp_path / "bulk", BULK))
    roster = check_roster(write(tmp_path / "delta", DELTA), base=base)
    assert roster.diary is not None
    assert set(roster.diary.people) == {"t1", "s1", "s3", "p1"}
    assert roster.changes == (
        FileChanges("users.csv", active=2, deleted=1, added=1, updated=1),
        FileChanges("enrollments.csv", active=1, deleted=1, added=1, updated=0),
    )


def test_applying_a_delta_without_a_previous_import_says_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(RosterError) as caught:
        load_roster(write(tmp_path / "delta", DELTA))
    (problem,) = caught.value.problems
    assert "there is none" in problem.reason


# The command


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["roster", "check", *args])
    return code, capsys.readouterr().out.splitlines()


def test_roster_check_prints_warnings_like_errors_and_counts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    classes = CLASSES.replace("scheduled,sch", "scheduled,dep")
    code, lines = run(capsys, str(write(tmp_path / "x", BULK, classes_csv=classes)))
    assert code == 0
    assert lines[0].startswith("classes.csv:3:schoolSourcedId: warning: org 'dep'")
    assert "Предупреждения (warnings): 1" in lines


def test_strict_turns_warnings_into_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    classes = CLASSES.replace("scheduled,sch", "scheduled,dep")
    code, lines = run(capsys, str(write(tmp_path / "x", BULK, classes_csv=classes)), "--strict")
    assert code == 1
    assert lines == [lines[0]]
    assert lines[0].startswith("classes.csv:3:schoolSourcedId: org 'dep'")
    assert lines[0].endswith("[--strict]")


def test_roster_check_of_a_delta_alone_exits_0_with_its_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(capsys, str(write(tmp_path / "delta", DELTA)))
    assert code == 0
    assert "users.csv — добавить или изменить (active): 2, удалить (tobedeleted): 1" in lines


def test_roster_check_of_a_delta_on_its_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "bulk", BULK)
    code, lines = run(capsys, str(write(tmp_path / "delta", DELTA)), "--base", str(base))
    assert code == 0
    expected = "users.csv — добавить (added): 1, изменить (updated): 1, удалить (tobedeleted): 1"
    assert expected in lines
    assert "Ученики (students): 2" in lines
