"""Microsoft School Data Sync (SDS) v2.1 CSV as a whole roster: detected by its headers,
read into the same Diary as OneRoster, every problem at its ``file:line:column``."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from appservice.diary_sync.roster import Problem, RosterError, Severity, check_roster, load_roster
from kernel.ids import SourcedId
from parta.cli import main
from synthetic.school import generate_school, write_sds

SDS = {
    "orgs.csv": "sourcedId,name,type,parentSourcedId\n"
    "dist-1,Управление образования,district,\n"
    "sch-7,МБОУ СОШ № 7,school,dist-1\n",
    "users.csv": "sourcedId,username,givenName,familyName,middleName,email,phone,sms\n"
    "t1,petrova.ai,Анна,Петрова,Ивановна,petrova@school.example,+79120000001,\n"
    "t2,sidorov.pp,Пётр,Сидоров,,,,\n"
    "a1,orlov.dn,Дмитрий,Орлов,,,,\n"
    "s1,smirnov.ivan,Иван,Смирнов,,,,+79120000011\n"
    "s2,kuznetsova.olga,Ольга,Кузнецова,,,,\n"
    "p1,smirnova.elena,Елена,Смирнова,,,+79120000021,\n"
    "p2,kuznetsov.ilya,Илья,Кузнецов,,,,\n",
    "roles.csv": "userSourcedId,orgSourcedId,role,sessionSourcedId,grade,isPrimary,"
    "roleStartDate,roleEndDate\n"
    "t1,sch-7,teacher,y2025,,true,2025-09-01,\n"
    "t2,sch-7,Teacher,,,,,\n"
    "a1,sch-7,principal,,,,,\n"
    "s1,sch-7,student,y2025,05,,,\n"
    "s2,sch-7,student,y2025,05,,,\n"
    "p2,sch-7,other,,,,,\n",
    "academicSessions.csv": "sourcedId,title,type,schoolYear,startDate,endDate\n"
    "y2025,2025/2026,schoolYear,2026,2025-09-01,2026-05-31\n",
    "classes.csv": "sourcedId,orgSourcedId,title,code,sessionSourcedIds,courseSourcedId\n"
    "c-5a,sch-7,5А,,y2025,\n"
    "c-5a-math,sch-7,5А Математика,,y2025,\n"
    "c-club,sch-7,Кружок робототехники,,,\n",
    "enrollments.csv": "classSourcedId,userSourcedId,role\n"
    "c-5a,t1,teacher\n"
    "c-5a,s1,student\n"
    "c-5a,s2,student\n"
    "c-5a-math,t2,teacher\n"
    "c-5a-math,s1,student\n"
    "c-5a-math,s2,student\n",
    "relationships.csv": "userSourcedId,relationshipUserSourcedId,relationshipRole\n"
    "s1,p1,parent\n"
    "s2,p2,guardian\n",
    "demographics.csv": "userSourcedId,sex,birthDate,birthCity\ns1,male,2014-03-02,Пермь\n",
}


def sid(text: str) -> SourcedId:
    return SourcedId(text)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def edited(file: str, old: str, new: str) -> dict[str, str]:
    assert old in SDS[file], f"{old!r} not in {file}"
    return {**SDS, file: SDS[file].replace(old, new, 1)}


def problems_of(source: Path) -> tuple[Problem, ...]:
    with pytest.raises(RosterError) as caught:
        load_roster(source)
    return caught.value.problems


@pytest.fixture
def sds(tmp_path: Path) -> Path:
    return write(tmp_path / "sds", SDS)


def test_a_whole_sds_export_loads_schools_people_and_roles(sds: Path) -> None:
    diary = load_roster(sds)
    assert set(diary.schools) == {"sch-7"}
    assert {p.id: p.role for p in diary.people.values()} == {
        "t1": Role.TEACHER,
        "t2": Role.TEACHER,
        "a1": Role.ADMINISTRATOR,
        "s1": Role.STUDENT,
        "s2": Role.STUDENT,
        "p1": Role.PARENT,  # no roles.csv row: a guardian in relationships.csv
        "p2": Role.PARENT,  # roles.csv says «other»: a guardian too
    }
    t1 = diary.people[sid("t1")]
    assert (t1.middle_name, t1.email, t1.phone, t1.username) == (
        "Ивановна",
        "petrova@school.example",
        "+79120000001",
        "petrova.ai",
    )
    assert t1.school_ids == {"sch-7"}
    assert diary.people[sid("s1")].phone == "+79120000011"  # from sms
    assert {(g.parent_id, g.student_id) for g in diary.guardianships} == {
        ("p1", "s1"),
        ("p2", "s2"),
    }


@pytest.mark.parametrize(
    ("class_id", "kind", "grade", "subject"),
    [
        ("c-5a", ClassKind.HOMEROOM, "5", ""),
        ("c-5a-math", ClassKind.SCHEDULED, "5", "Математика"),
        ("c-club", ClassKind.SCHEDULED, "", ""),
    ],
)
def test_class_kind_grade_and_subject_come_from_the_title(
    sds: Path, class_id: str, kind: ClassKind, grade: str, subject: str
) -> None:
    klass = load_roster(sds).classes[sid(class_id)]
    assert (klass.kind, klass.grade, klass.subject, klass.school_id) == (
        kind,
        grade,
        subject,
        "sch-7",
    )


def test_enrollments_and_the_one_teacher_of_a_homeroom_heads_it(sds: Path) -> None:
    diary = load_roster(sds)
    assert {e.id for e in diary.enrollments} == {
        f"{klass}/{person}"
        for klass, person in [
            ("c-5a", "t1"),
            ("c-5a", "s1"),
            ("c-5a", "s2"),
            ("c-5a-math", "t2"),
            ("c-5a-math", "s1"),
            ("c-5a-math", "s2"),
        ]
    }
    assert diary.members_of(sid("c-5a"), EnrollmentRole.STUDENT) == {"s1", "s2"}
    assert diary.class_teacher(sid("c-5a")) == "t1"
    assert diary.class_teacher(sid("c-5a-math")) is None  # a subject group has none


def test_optional_columns_class_type_grade_subject_and_is_primary(tmp_path: Path) -> None:
    files = {
        **SDS,
        "classes.csv": "sourcedId,orgSourcedId,title,classType,grade,subject\n"
        "c-5a,sch-7,Пятый «А»,homeroom,05,\n"
        "c-5a-math,sch-7,Алгебра,scheduled,5,Математика\n",
        "enrollments.csv": "classSourcedId,userSourcedId,role,isPrimary\n"
        "c-5a,t1,teacher,false\n"
        "c-5a,t2,teacher,true\n"
        "c-5a,s1,student,\n",
    }
    diary = load_roster(write(tmp_path / "x", files))
    homeroom, group = diary.classes[sid("c-5a")], diary.classes[sid("c-5a-math")]
    assert (homeroom.kind, homeroom.grade) == (ClassKind.HOMEROOM, "5")
    assert (group.kind, group.grade, group.subject) == (ClassKind.SCHEDULED, "5", "Математика")
    assert diary.class_teacher(sid("c-5a")) == "t2"


def test_users_only_sds_export_has_no_classes(tmp_path: Path) -> None:
    files = {k: v for k, v in SDS.items() if k not in ("classes.csv", "enrollments.csv")}
    diary = load_roster(write(tmp_path / "x", files))
    assert (len(diary.people), len(diary.classes), len(diary.enrollments)) == (7, 0, 0)


def test_check_names_the_format(sds: Path) -> None:
    roster = check_roster(sds)
    assert (roster.sds, roster.version, roster.is_delta, roster.warnings) == (
        True,
        "2.1",
        False,
        (),
    )


def test_sds_stands_alone_whatever_the_previous_import(sds: Path, tmp_path: Path) -> None:
    previous = load_roster(sds)
    fewer = write(tmp_path / "fewer", edited("enrollments.csv", "c-5a-math,s2,student\n", ""))
    diary = load_roster(fewer, base=previous)
    assert "c-5a-math/s2" not in {e.id for e in diary.enrollments}
    assert diary == load_roster(fewer)


@pytest.mark.parametrize("nested", [False, True])
def test_a_zipped_sds_export_loads_like_the_folder(sds: Path, tmp_path: Path, nested: bool) -> None:
    archive = tmp_path / "sds.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(sds.iterdir()):
            zipped.write(path, f"SDS export/{path.name}" if nested else path.name)
    assert load_roster(archive) == load_roster(sds)


def test_encodings_and_header_spelling_of_real_files(sds: Path, tmp_path: Path) -> None:
    other = write(tmp_path / "cp1251", {})
    for path in sds.iterdir():
        text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        (other / path.name).write_bytes(text.encode("cp1251"))
    (other / "users.csv").write_bytes(
        SDS["users.csv"].replace("givenName", "GivenName").encode("utf-8-sig")
    )
    assert load_roster(other) == load_roster(sds)


def test_extension_columns_are_kept(tmp_path: Path) -> None:
    files = edited("users.csv", "phone,sms\n", "phone,sms,metadata.dnevnik.id\n")
    files["users.csv"] = files["users.csv"].replace(",+79120000001,\n", ",+79120000001,,1001\n")
    diary = load_roster(write(tmp_path / "x", files))
    assert diary.extensions["users.csv"] == {"t1": {"metadata.dnevnik.id": "1001"}}


# Broken exports: (case, file, old, new, expected file, line, column, reason fragment)
CASES = [
    ("unknown role", "roles.csv", "t2,sch-7,Teacher", "t2,sch-7,janitor", "roles.csv", 3, "role",
     "unknown role 'janitor'"),
    ("unknown org type", "orgs.csv", "school,dist-1", "gymnasium,dist-1", "orgs.csv", 3, "type",
     "unknown type 'gymnasium'"),
    ("unknown enrollment role", "enrollments.csv", "c-5a-math,t2,teacher", "c-5a-math,t2,janitor",
     "enrollments.csv", 5, "role", "unknown role 'janitor'"),
    ("unknown relationship role", "relationships.csv", "s1,p1,parent", "s1,p1,uncle",
     "relationships.csv", 2, "relationshipRole", "unknown relationship role 'uncle'"),
    ("missing column", "users.csv", ",givenName,", ",firstName,", "users.csv", 1, "givenName",
     "missing required column"),
    ("missing roles column", "roles.csv", ",orgSourcedId,role,", ",orgSourcedId,position,",
     "roles.csv", 1, "role", "missing required column"),
    ("blank name", "users.csv", "Анна,Петрова", ",Петрова", "users.csv", 2, "givenName",
     "required value is blank"),
    ("unknown user in enrollments", "enrollments.csv", "c-5a,s2,student", "c-5a,s9,student",
     "enrollments.csv", 4, "userSourcedId", "unknown user 's9'"),
    ("unknown class", "enrollments.csv", "c-5a-math,s2", "c-6b,s2", "enrollments.csv", 7,
     "classSourcedId", "unknown class 'c-6b'"),
    ("unknown school of a class", "classes.csv", "c-5a-math,sch-7", "c-5a-math,sch-9",
     "classes.csv", 3, "orgSourcedId", "unknown school 'sch-9'"),
    ("unknown org of a role", "roles.csv", "a1,sch-7", "a1,sch-9", "roles.csv", 4,
     "orgSourcedId", "unknown org 'sch-9'"),
    ("unknown user of a role", "roles.csv", "a1,sch-7", "a9,sch-7", "roles.csv", 4,
     "userSourcedId", "unknown user 'a9'"),
    ("unknown parent org", "orgs.csv", "school,dist-1", "school,dist-9", "orgs.csv", 3,
     "parentSourcedId", "unknown parent org 'dist-9'"),
    ("unknown guardian", "relationships.csv", "s1,p1,", "s1,p9,", "relationships.csv", 2,
     "relationshipUserSourcedId", "unknown user 'p9'"),
    ("duplicate user", "users.csv", "p2,kuznetsov.ilya", "p1,kuznetsov.ilya", "users.csv", 8,
     "sourcedId", "duplicate sourcedId 'p1'"),
    ("duplicate enrollment", "enrollments.csv", "c-5a,s2,student", "c-5a,s1,student",
     "enrollments.csv", 4, "userSourcedId", "duplicate: line 3 enrolls 's1' in 'c-5a'"),
    ("duplicate role", "roles.csv", "t2,sch-7,Teacher", "t1,sch-7,Teacher", "roles.csv", 3, "role",
     "duplicate: line 2"),
    ("bad isPrimary", "roles.csv", ",true,2025", ",yes,2025", "roles.csv", 2, "isPrimary",
     "true or false"),
    ("bad date", "roles.csv", "2025-09-01,", "2025-13-01,", "roles.csv", 2, "roleStartDate",
     "malformed date"),
    ("unknown session of a role", "roles.csv", "s1,sch-7,student,y2025", "s1,sch-7,student,y2024",
     "roles.csv", 5, "sessionSourcedId", "unknown academic session 'y2024'"),
    ("unknown session of a class", "classes.csv", "5А,,y2025", "5А,,y2024", "classes.csv", 2,
     "sessionSourcedIds", "unknown academic session 'y2024'"),
    ("no role and no guardian", "relationships.csv", "s1,p1,parent\n", "", "users.csv", 7,
     "sourcedId", "no role in roles.csv"),
    ("other but no guardian", "relationships.csv", "s2,p2,guardian", "s2,p1,guardian",
     "roles.csv", 7, "role", "'other' is read as a parent's only for a guardian"),
    ("a student as a guardian", "relationships.csv", "s1,p1,", "s1,s2,", "relationships.csv", 2,
     "relationshipUserSourcedId", "'s2' is a student, not a guardian"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "old", "new", "where", "line", "column", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_broken_sds_export_is_refused_at_the_cell(
    tmp_path: Path,
    file: str,
    old: str,
    new: str,
    where: str,
    line: int,
    column: str,
    reason: str,
) -> None:
    problems = problems_of(write(tmp_path / "x", edited(file, old, new)))
    places = [(p.file, p.line, p.column) for p in problems if reason in p.reason]
    assert places == [(where, line, column)], [str(p) for p in problems]
    assert str(problems[0]).startswith(f"{problems[0].file}:{problems[0].line}:")


def test_an_unknown_class_type_is_refused(tmp_path: Path) -> None:
    files = {
        **SDS,
        "classes.csv": "sourcedId,orgSourcedId,title,classType\nc-5a,sch-7,5А,lecture\n",
        "enrollments.csv": "classSourcedId,userSourcedId,role\n",
    }
    (problem,) = problems_of(write(tmp_path / "x", files))
    assert str(problem) == "classes.csv:2:classType: unknown classType 'lecture'"


@pytest.mark.parametrize("missing", ["orgs.csv", "users.csv", "roles.csv"])
def test_a_required_file_missing_is_refused_by_name(tmp_path: Path, missing: str) -> None:
    files = {name: text for name, text in SDS.items() if name != missing}
    problems = problems_of(write(tmp_path / "x", files))
    assert (problems[0].file, problems[0].line) == (missing, 0)
    assert "SDS v2.1" in problems[0].reason


def test_enrollments_without_classes_are_refused(tmp_path: Path) -> None:
    files = {name: text for name, text in SDS.items() if name != "classes.csv"}
    (problem,) = problems_of(write(tmp_path / "x", files))
    assert str(problem) == "enrollments.csv:0:: classes.csv is missing: enrollments.csv needs it"


def test_files_of_two_formats_are_refused_saying_which(tmp_path: Path) -> None:
    files = {
        **SDS,
        "users.csv": "sourcedId,orgSourcedIds,role,username,givenName,familyName\n"
        "t1,sch-7,teacher,petrova.ai,Анна,Петрова\n",
    }
    (problem,) = problems_of(write(tmp_path / "x", files))
    assert (problem.file, problem.line) == ("classes.csv", 1)
    assert "disagree" in problem.reason
    assert "users.csv those of OneRoster (users.csv has role, orgSourcedIds)" in problem.reason


def test_oneroster_10_is_still_read_as_oneroster(tmp_path: Path) -> None:
    files = {
        "orgs.csv": "sourcedId,name,type\nsch,Школа,school\n",
        "users.csv": "sourcedId,orgSourcedIds,role,username,givenName,familyName\n"
        "t1,sch,teacher,t1,Анна,Петрова\n",
        "classes.csv": "sourcedId,title,classType,schoolSourcedId\nc1,7В,homeroom,sch\n",
        "enrollments.csv": "sourcedId,classSourcedId,userSourcedId,role,primary\n"
        "e1,c1,t1,teacher,true\n",
    }
    roster = check_roster(write(tmp_path / "v10", files))
    assert (roster.sds, roster.version) == (False, "1.0")
    diary = roster.diary
    assert isinstance(diary, Diary)
    assert diary.class_teacher(sid("c1")) == "t1"


def test_two_teachers_of_a_homeroom_and_none_primary_is_a_warning_and_strict_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path / "x", edited("enrollments.csv", "c-5a,s1,student", "c-5a,t2,teacher"))
    (warning,) = check_roster(folder).warnings
    assert warning.severity is Severity.WARNING
    assert (warning.file, warning.line, warning.column) == ("classes.csv", 2, "title")
    assert "none is marked isPrimary" in warning.reason

    assert main(["roster", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "classes.csv:2:title: warning: 2 teachers" in out
    assert "Формат (format): Microsoft SDS v2.1 CSV, полная выгрузка (bulk)" in out
    assert "Предупреждения (warnings): 1" in out

    assert main(["roster", "check", "--strict", str(folder)]) == 1
    said = capsys.readouterr()
    assert "classes.csv:2:title: 2 teachers" in said.out
    assert "[--strict]" in said.out
    assert "1 problem(s)" in said.err


def test_demographics_are_not_read(sds: Path) -> None:
    (sds / "demographics.csv").write_bytes(b"\x98 not even text")
    assert load_roster(sds) == load_roster(write(sds.parent / "again", SDS))


def test_an_unknown_user_with_role_other_is_reported(tmp_path: Path) -> None:
    problems = problems_of(
        write(tmp_path / "x", edited("roles.csv", "p2,sch-7,other", "p9,sch-7,other"))
    )
    assert [str(p) for p in problems if "p9" in p.reason] == [
        "roles.csv:7:userSourcedId: unknown user 'p9'"
    ]


def test_relationships_without_their_columns_are_refused_once(tmp_path: Path) -> None:
    files = edited("relationships.csv", "relationshipUserSourcedId", "contact")
    (problem,) = problems_of(write(tmp_path / "x", files))
    assert (problem.file, problem.line, problem.reason) == (
        "relationships.csv",
        1,
        "missing required column",
    )


def test_a_generated_school_written_as_sds_loads_back(tmp_path: Path) -> None:
    """The generator's SDS writer and this reader agree on everything the diary holds;
    only enrollment ids differ (SDS has none: ``class/user``)."""
    school = generate_school(120)
    write_sds(school, tmp_path / "sds")
    loaded = load_roster(tmp_path / "sds")
    expected = replace(
        school.diary,
        enrollments=frozenset(
            replace(e, id=SourcedId(f"{e.class_id}/{e.person_id}"))
            for e in school.diary.enrollments
        ),
    )
    assert loaded == expected


def test_parta_school_generate_format_sds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "school"
    assert (
        main(["school", "generate", "--students", "30", "--format", "sds", "--out", str(out)]) == 0
    )
    assert not (out / "manifest.csv").exists()
    assert main(["roster", "check", str(out)]) == 0
    assert "Microsoft SDS v2.1 CSV" in capsys.readouterr().out


def test_oneroster_12_without_its_manifest_is_told_so(tmp_path: Path) -> None:
    files = {
        **SDS,
        "roles.csv": "sourcedId,userSourcedId,roleType,role,orgSourcedId\n"
        "r1,t1,primary,teacher,sch-7\n",
    }
    (problem,) = problems_of(write(tmp_path / "x", files))
    assert str(problem) == (
        "manifest.csv:0:: missing: roles.csv has the columns of OneRoster 1.2 (sourcedId,"
        " roleType), and a 1.2 export has manifest.csv — export it again with its manifest"
    )


def test_an_sds_org_type_other_than_school_is_named_as_sds_spells_it(tmp_path: Path) -> None:
    files = edited(
        "orgs.csv",
        "dist-1,Управление образования,district",
        "dist-1,Департамент,DepartmentOfEducation",
    )
    files["classes.csv"] = files["classes.csv"].replace("c-club,sch-7", "c-club,dist-1")
    (problem,) = problems_of(write(tmp_path / "x", files))
    assert str(problem) == (
        "classes.csv:4:orgSourcedId: org 'dist-1' is a departmentOfEducation, not a school,"
        " and no school is above it (parentSourcedId)"
    )


def test_courses_give_a_group_without_a_subject_its_course_title(tmp_path: Path) -> None:
    files = edited("classes.csv", "Кружок робототехники,,,", "Кружок робототехники,,,crs-robo")
    files["courses.csv"] = "sourcedId,orgSourcedId,title,code\ncrs-robo,sch-7,Робототехника,R1\n"
    diary = load_roster(write(tmp_path / "x", files))
    assert diary.classes[sid("c-club")].subject == "Робототехника"
    assert diary.classes[sid("c-5a-math")].subject == "Математика"

    files["courses.csv"] = "sourcedId,orgSourcedId,title,code\ncrs-art,sch-7,ИЗО,A1\n"
    (problem,) = problems_of(write(tmp_path / "y", files))
    assert str(problem) == "classes.csv:4:courseSourcedId: unknown course 'crs-robo'"


@pytest.mark.parametrize(
    "case",
    [
        "unknown role",
        "unknown relationship role",
        "bad isPrimary",
        "bad date",
        "unknown enrollment role",
        "duplicate enrollment",
        "other but no guardian",
    ],
)
def test_one_bad_row_gives_one_problem(tmp_path: Path, case: str) -> None:
    """Not once more as the person's missing role, nor as a dangling reference to them."""
    (_, file, old, new, *_) = next(c for c in CASES if c[0] == case)
    problems = problems_of(write(tmp_path / "x", edited(file, old, new)))
    assert len(problems) == 1, [str(p) for p in problems]
