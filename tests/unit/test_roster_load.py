"""Valid OneRoster 1.1 / 1.2 exports (folders and zips, clean and messy) load in full."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Guardianship, Role
from appservice.diary_sync.roster import load_roster
from kernel.ids import SourcedId

FIXTURES = Path(__file__).parent.parent / "fixtures" / "roster"


def sid(text: str) -> SourcedId:
    return SourcedId(text)


def links(diary: Diary) -> set[tuple[str, str]]:
    return {(g.parent_id, g.student_id) for g in diary.guardianships}


@pytest.fixture
def v11(tmp_path: Path) -> Path:
    folder = tmp_path / "v11"
    shutil.copytree(FIXTURES / "v11", folder)
    return folder


def test_oneroster_11_folder_loads_people_classes_and_links() -> None:
    diary = load_roster(FIXTURES / "v11")
    assert set(diary.schools) == {"org-14"}
    assert len(diary.people) == 10
    assert diary.people[sid("par-3")].role is Role.PARENT
    assert diary.people[sid("adm-1")].school_ids == {"org-14"}
    assert links(diary) == {
        ("par-1", "stu-1"),
        ("par-2", "stu-1"),
        ("par-3", "stu-2"),
        ("par-4", "stu-3"),
    }
    assert diary.class_teacher(sid("cls-5a")) == "tch-1"
    assert diary.members_of(sid("cls-5a"), EnrollmentRole.STUDENT) == {"stu-1", "stu-2", "stu-3"}


@pytest.mark.parametrize(
    ("class_id", "kind", "grade", "subject"),
    [
        ("cls-5a", ClassKind.HOMEROOM, "5", ""),
        ("cls-5a-math", ClassKind.SCHEDULED, "5", "Математика"),
    ],
)
def test_oneroster_11_classes(class_id: str, kind: ClassKind, grade: str, subject: str) -> None:
    klass = load_roster(FIXTURES / "v11").classes[sid(class_id)]
    assert (klass.kind, klass.grade, klass.subject) == (kind, grade, subject)


def test_parent_enrollments_are_skipped_and_aides_teach() -> None:
    diary = load_roster(FIXTURES / "v11")
    assert {e.id for e in diary.enrollments} == {f"e{n}" for n in range(1, 9)}
    aide = next(e for e in diary.enrollments if e.id == "e6")
    assert (aide.role, aide.primary) == (EnrollmentRole.TEACHER, False)


def test_extension_columns_are_kept_and_districts_remembered() -> None:
    diary = load_roster(FIXTURES / "v11")
    assert diary.extensions["users.csv"] == {
        "tch-1": {"metadata.dnevnik.id": "1001"},
        "stu-1": {"metadata.dnevnik.id": "2001"},
    }
    assert diary.extensions["orgs.csv"] == {"dist-1": {}}


def test_oneroster_12_roles_file_and_sds_relationships() -> None:
    diary = load_roster(FIXTURES / "v12")
    roles = {p.id: p.role for p in diary.people.values()}
    assert roles == {
        "tch-1": Role.TEACHER,
        "adm-1": Role.ADMINISTRATOR,
        "stu-1": Role.STUDENT,
        "stu-2": Role.STUDENT,
        "par-1": Role.PARENT,
    }
    assert links(diary) == {("par-1", "stu-1"), ("tch-1", "stu-2")}
    assert diary.people[sid("stu-2")].phone == "+79120000011"  # from sms
    assert diary.classes[sid("cls-10b-phys")].grade == "10"
    assert diary.class_teacher(sid("cls-10b")) == "tch-1"


@pytest.mark.parametrize("nested", [False, True])
def test_zip_loads_like_the_folder(tmp_path: Path, nested: bool) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in (FIXTURES / "v11").iterdir():
            zipped.write(path, f"export/{path.name}" if nested else path.name)
    assert load_roster(archive) == load_roster(FIXTURES / "v11")


def rewrite(folder: Path, encoding: str, newline: str, bom: bool = False) -> None:
    for path in folder.glob("*.csv"):
        text = path.read_text(encoding="utf-8").replace("\n", newline)
        path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode(encoding))


@pytest.mark.parametrize(
    ("encoding", "newline", "bom"),
    [("utf-8", "\r\n", True), ("cp1251", "\r\n", False), ("cp1251", "\n", False)],
    ids=["utf8-bom-crlf", "cp1251-crlf", "cp1251-lf"],
)
def test_real_world_encodings(v11: Path, encoding: str, newline: str, bom: bool) -> None:
    rewrite(v11, encoding, newline, bom)
    diary = load_roster(v11)
    assert diary == load_roster(FIXTURES / "v11")
    assert diary.people[sid("stu-3")].given_name == "Пётр"


def test_header_only_file_means_zero_rows(v11: Path) -> None:
    (v11 / "enrollments.csv").write_text(
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\n",
        encoding="utf-8",
    )
    diary = load_roster(v11)
    assert diary.enrollments == frozenset()
    assert diary.class_teacher(sid("cls-5a")) is None


def test_headers_match_whatever_their_case_and_spacing(v11: Path) -> None:
    path = v11 / "orgs.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("sourcedId,", " SourcedID ,", 1), encoding="utf-8")
    assert load_roster(v11) == load_roster(FIXTURES / "v11")


def test_blank_lines_and_trailing_empty_cells_are_ignored(v11: Path) -> None:
    path = v11 / "courses.csv"
    path.write_text(path.read_text(encoding="utf-8") + "\n,,\n", encoding="utf-8")
    assert load_roster(v11) == load_roster(FIXTURES / "v11")


def test_absent_files_on_disk_are_not_read(v11: Path) -> None:
    (v11 / "demographics.csv").write_bytes(b"\x98 not even text")
    assert load_roster(v11) == load_roster(FIXTURES / "v11")


def test_a_teacher_who_is_also_a_parent_keeps_the_teacher_role() -> None:
    diary = load_roster(FIXTURES / "v12")
    assert Guardianship(sid("tch-1"), sid("stu-2")) in diary.guardianships
    assert diary.people[sid("tch-1")].role is Role.TEACHER
