"""The synthetic school: realistic shape, deterministic, and loadable as OneRoster."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from appservice.diary_sync.roster import load_roster
from appservice.diary_sync.summary import summarize
from kernel.ids import SourcedId
from synthetic.russian_names import female_surname, patronymic, transliterate
from synthetic.school import GeneratedSchool, generate_school, write_oneroster

DEMO = Path(__file__).parent.parent.parent / "demo" / "school"


@pytest.fixture(scope="module")
def school() -> GeneratedSchool:
    return generate_school(1000)


@pytest.fixture(scope="module")
def loaded(school: GeneratedSchool, tmp_path_factory: pytest.TempPathFactory) -> Diary:
    out = tmp_path_factory.mktemp("school")
    write_oneroster(school, out)
    return load_roster(out)


def homerooms(diary: Diary) -> set[SourcedId]:
    return {k.id for k in diary.classes.values() if k.kind is ClassKind.HOMEROOM}


def test_a_thousand_students_fill_about_forty_homerooms(loaded: Diary) -> None:
    summary = summarize(loaded)
    assert summary.people_by_role[Role.STUDENT] == 1000
    assert 38 <= summary.classes <= 42
    assert 2400 <= len(loaded.people) <= 2800
    assert 3 <= summary.people_by_role[Role.ADMINISTRATOR] <= 5
    assert summary.students_without_class == 0
    assert summary.students_with_parents == 1000


def test_every_student_is_in_exactly_one_homeroom(loaded: Diary) -> None:
    rooms = homerooms(loaded)
    placed = Counter(
        e.person_id
        for e in loaded.enrollments
        if e.class_id in rooms and e.role is EnrollmentRole.STUDENT
    )
    students = {p.id for p in loaded.people.values() if p.role is Role.STUDENT}
    assert set(placed) == students
    assert set(placed.values()) == {1}


def test_every_homeroom_has_its_own_class_teacher(loaded: Diary) -> None:
    teachers = [loaded.class_teacher(room) for room in homerooms(loaded)]
    assert None not in teachers
    assert len(set(teachers)) == len(teachers)
    assert all(loaded.people[t].role is Role.TEACHER for t in teachers if t)


def test_subject_classes_hold_their_homerooms_students(loaded: Diary) -> None:
    members: dict[tuple[str, EnrollmentRole], set[str]] = {}
    for e in loaded.enrollments:
        members.setdefault((e.class_id, e.role), set()).add(e.person_id)
    for klass in loaded.classes.values():
        if klass.kind is ClassKind.SCHEDULED:
            homeroom = klass.id.rsplit("-", 1)[0]
            assert klass.subject
            students = members[(klass.id, EnrollmentRole.STUDENT)]
            assert students == members[(homeroom, EnrollmentRole.STUDENT)]
            assert len(members[(klass.id, EnrollmentRole.TEACHER)]) == 1


def test_teachers_teach_several_classes(loaded: Diary) -> None:
    load = Counter(e.person_id for e in loaded.enrollments if e.role is EnrollmentRole.TEACHER)
    assert max(load.values()) >= 5
    assert sum(1 for k in loaded.classes.values() if k.subject == "Физика") > 0


def test_parents_one_or_two_and_some_siblings(loaded: Diary) -> None:
    counts = Counter(g.student_id for g in loaded.guardianships)
    assert set(counts.values()) <= {1, 2}
    children = Counter(g.parent_id for g in loaded.guardianships)
    assert max(children.values()) >= 2


def test_usernames_and_phones_are_unique_and_well_formed(loaded: Diary) -> None:
    people = list(loaded.people.values())
    usernames = [p.username for p in people]
    assert len(set(usernames)) == len(usernames)
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+[0-9]*", u) for u in usernames)
    phones = [p.phone for p in people if p.phone]
    assert len(set(phones)) == len(phones)
    assert all(re.fullmatch(r"\+79\d{9}", phone) for phone in phones)


def test_ids_are_readable(school: GeneratedSchool) -> None:
    diary = school.diary
    assert {"stu-0001", "par-0001", "tch-001", "adm-1"} <= set(diary.people)
    assert {"cls-5a", "cls-5a-math", "cls-1a-read"} <= set(diary.classes)
    assert school.school.id == "org-1"
    assert diary.classes["cls-5a"].title == "5А"  # type: ignore[index]


def test_written_export_loads_back_unchanged(school: GeneratedSchool, loaded: Diary) -> None:
    assert loaded == school.diary


def test_same_seed_same_school_other_seed_other_school(school: GeneratedSchool) -> None:
    assert generate_school(1000) == school
    assert generate_school(1000, seed=2) != school


@pytest.mark.parametrize("students", [1, 10, 60, 300])
def test_small_schools_are_whole(students: int) -> None:
    summary = summarize(generate_school(students).diary)
    assert summary.people_by_role[Role.STUDENT] == students
    assert summary.students_without_class == 0
    assert summary.students_with_parents == students


def test_generator_refuses_an_empty_school() -> None:
    with pytest.raises(ValueError, match="at least one"):
        generate_school(0)


@pytest.mark.parametrize(
    ("male", "female"),
    [
        ("Иванов", "Иванова"),
        ("Соловьёв", "Соловьёва"),
        ("Ильин", "Ильина"),
        ("Островский", "Островская"),
        ("Толстой", "Толстая"),
        ("Шевченко", "Шевченко"),
    ],
)
def test_female_surnames(male: str, female: str) -> None:
    assert female_surname(male) == female


@pytest.mark.parametrize(
    ("father", "son", "daughter"),
    [
        ("Иван", "Иванович", "Ивановна"),
        ("Сергей", "Сергеевич", "Сергеевна"),
        ("Игорь", "Игоревич", "Игоревна"),
        ("Дмитрий", "Дмитриевич", "Дмитриевна"),
        ("Юрий", "Юрьевич", "Юрьевна"),
        ("Пётр", "Петрович", "Петровна"),
        ("Илья", "Ильич", "Ильинична"),
        ("Никита", "Никитич", "Никитична"),
    ],
)
def test_patronymics(father: str, son: str, daughter: str) -> None:
    assert (patronymic(father, False), patronymic(father, True)) == (son, daughter)


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [("Щербаков", "shcherbakov"), ("Юлия", "iuliia"), ("Пётр", "petr"), ("Игорь", "igor")],
)
def test_transliteration(cyrillic: str, latin: str) -> None:
    assert transliterate(cyrillic) == latin


def test_committed_demo_school_is_what_the_generator_writes() -> None:
    assert load_roster(DEMO) == generate_school(150, seed=1).diary
