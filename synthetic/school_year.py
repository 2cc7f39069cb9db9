"""The same synthetic school in a later school year: what a diary exports on 1 September.

::

    2025/26 (generate_school) ──next──▶ 2026/27 ──next──▶ …
      5А cls-2025-5a               6А cls-2026-6a   (same pupils, same class teacher)
      11А                          graduated: pupils and their parents leave
                                   1А cls-2026-1a   new pupils, new parents; the class teacher
                                                    of the 11А that left takes it

Class ids carry the year, as diaries export them: a class of a new year is a new class, and
the sync has to find out that 6А carries on 5А.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    Enrollment,
    EnrollmentRole,
    Guardianship,
    Person,
    Role,
    SchoolClass,
)
from kernel.ids import SourcedId
from synthetic.russian_names import BOYS, GIRLS, SURNAMES, WOMEN, female_surname
from synthetic.school import GeneratedSchool, generate_school
from synthetic.timetable import weekly_timetable

BASE_YEAR = 2025
"""The school year ``generate_school`` makes (2025/26)."""
LAST_GRADE = 11


def generate_school_year(
    students: int,
    year: int,
    seed: int = 1,
    school_name: str = "МАОУ лицей № 14",
    school_id: str = "org-1",
) -> GeneratedSchool:
    """The school of ``generate_school(students, seed)`` in the school year starting ``year``."""
    if year < BASE_YEAR:
        raise ValueError(f"the synthetic school starts in {BASE_YEAR}")
    made = generate_school(students, seed=seed, school_name=school_name, school_id=school_id)
    diary = _with_year(made.diary)
    rng = random.Random(seed * 7919 + year)  # noqa: S311 - synthetic names, not secrets
    for next_year in range(BASE_YEAR + 1, year + 1):
        diary = _next_year(diary, next_year, rng)
    return GeneratedSchool(diary, weekly_timetable(diary))


def _year_id(class_id: SourcedId, year: int) -> SourcedId:
    return SourcedId(f"cls-{year}-{class_id.removeprefix('cls-')}")


def _with_year(diary: Diary) -> Diary:
    """``cls-5a`` → ``cls-2025-5a``: every class id names its year."""
    ids = {c: _year_id(c, BASE_YEAR) for c in diary.classes}
    return _renamed(diary, ids, {c: diary.classes[c] for c in diary.classes})


def _renamed(
    diary: Diary, ids: dict[SourcedId, SourcedId], classes: dict[SourcedId, SchoolClass]
) -> Diary:
    new_classes = {ids[c]: replace(k, id=ids[c]) for c, k in classes.items()}
    enrollments = frozenset(
        replace(e, class_id=ids[e.class_id], id=_enrollment_id(ids[e.class_id], e.person_id))
        for e in diary.enrollments
        if e.class_id in ids and e.person_id in diary.people
    )
    return replace(diary, classes=new_classes, enrollments=enrollments)


def _enrollment_id(class_id: SourcedId, person: SourcedId) -> SourcedId:
    return SourcedId(f"enr-{class_id.removeprefix('cls-')}-{person}")


def _grade_up(klass: SchoolClass, year: int) -> SchoolClass:
    grade = int(klass.grade) + 1
    letter = klass.title.removeprefix(klass.grade).split(" ", 1)[0]
    rest = klass.title.removeprefix(klass.grade).removeprefix(letter)
    code = klass.id.split("-", 2)[2]  # cls-2025-5a[-math]
    new_code = str(grade) + code.removeprefix(klass.grade)
    return replace(
        klass,
        id=SourcedId(f"cls-{year}-{new_code}"),
        title=f"{grade}{letter}{rest}",
        grade=str(grade),
    )


def _next_year(diary: Diary, year: int, rng: random.Random) -> Diary:
    leaving = {
        c.id for c in diary.classes.values() if c.grade == str(LAST_GRADE) or not c.grade.isdigit()
    }
    graduates = {
        e.person_id
        for e in diary.enrollments
        if e.class_id in leaving and e.role is EnrollmentRole.STUDENT
    }
    children: dict[SourcedId, set[SourcedId]] = defaultdict(set)
    for g in diary.guardianships:
        children[g.parent_id].add(g.student_id)
    parents_gone = {p for p, kids in children.items() if kids <= graduates}
    people = {p: x for p, x in diary.people.items() if p not in graduates | parents_gone}
    moving = {c: _grade_up(k, year) for c, k in diary.classes.items() if c not in leaving}
    ids = {c: k.id for c, k in moving.items()}
    kept = replace(
        diary,
        people=people,
        guardianships=frozenset(g for g in diary.guardianships if g.student_id in people),
    )
    moved = _renamed(kept, ids, moving)
    moved = replace(moved, classes={k.id: k for k in moving.values()})
    return _first_grade(moved, diary, leaving, year, rng)


def _first_grade(
    moved: Diary, last: Diary, leaving: set[SourcedId], year: int, rng: random.Random
) -> Diary:
    """New 1st grades, as many and as large as last year's; each gets the class teacher of a
    graduated class (teachers of the little ones otherwise stay with their class)."""
    people = dict(moved.people)
    classes = dict(moved.classes)
    enrollments = set(moved.enrollments)
    guardians = set(moved.guardianships)
    free_heads = sorted(
        e.person_id
        for e in last.enrollments
        if e.class_id in leaving
        and e.primary
        and e.role is EnrollmentRole.TEACHER
        and last.classes[e.class_id].kind is ClassKind.HOMEROOM
    )
    firsts = sorted(
        (c for c in last.classes.values() if c.grade == "1" and c.kind is ClassKind.HOMEROOM),
        key=lambda c: c.id,
    )
    number = 0
    for index, old in enumerate(firsts):
        code = old.id.split("-", 2)[2]
        klass = replace(old, id=SourcedId(f"cls-{year}-{code}"))
        classes[klass.id] = klass
        head = free_heads[index] if index < len(free_heads) else None
        for e in last.enrollments:
            if e.class_id == old.id and e.role is EnrollmentRole.TEACHER and head is None:
                head = e.person_id
        if head is not None:
            enrollments.add(
                Enrollment(
                    klass.id,
                    head,
                    EnrollmentRole.TEACHER,
                    True,
                    _enrollment_id(klass.id, head),
                )
            )
        size = sum(
            1 for e in last.enrollments if e.class_id == old.id and e.role is EnrollmentRole.STUDENT
        )
        school = frozenset({klass.school_id})
        for _ in range(size):
            number += 1
            pupil = SourcedId(f"stu-{year}-{number:04d}")
            parent = SourcedId(f"par-{year}-{number:04d}")
            surname = rng.choice(SURNAMES)
            female = rng.random() < 0.5
            given = rng.choice(GIRLS if female else BOYS)
            family = female_surname(surname) if female else surname
            people[pupil] = Person(pupil, Role.STUDENT, given, family, school_ids=school)
            mother = female_surname(surname)
            people[parent] = Person(
                parent, Role.PARENT, rng.choice(WOMEN), mother, school_ids=school
            )
            guardians.add(Guardianship(parent, pupil))
            enrollments.add(
                Enrollment(
                    klass.id,
                    pupil,
                    EnrollmentRole.STUDENT,
                    id=_enrollment_id(klass.id, pupil),
                )
            )
    return replace(
        moved,
        people=people,
        classes=classes,
        enrollments=frozenset(enrollments),
        guardianships=frozenset(guardians),
    )
