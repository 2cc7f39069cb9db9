"""A small hand-built school for tests: two classes of grade 5, one of grade 6.

Each call takes a ``prefix`` so tests sharing one Synapse never share ids.
"""

from __future__ import annotations

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    Enrollment,
    EnrollmentRole,
    Guardianship,
    Person,
    Role,
    School,
    SchoolClass,
)
from kernel.ids import SourcedId

STUDENTS = {"5a": ["s1", "s2", "s3"], "5b": ["s4", "s5"], "6a": ["s6"]}
HEADS = {"5a": "t1", "5b": "t2", "6a": "t3"}
SUBJECTS = {("5a", "math"): "t4", ("5b", "math"): "t4", ("6a", "phys"): "t2"}
PARENTS = {"p1": ["s1"], "p2": ["s2", "s4"], "p3": ["s6"]}


def small_school(prefix: str) -> Diary:
    def sid(local: str) -> SourcedId:
        return SourcedId(f"{prefix}-{local}")

    org = sid("org")
    people: dict[SourcedId, Person] = {}

    def person(local: str, role: Role, family: str, given: str) -> None:
        people[sid(local)] = Person(sid(local), role, given, family, school_ids=frozenset({org}))

    for n, local in enumerate(sorted({s for group in STUDENTS.values() for s in group})):
        person(local, Role.STUDENT, f"Ученик{n}", "Иван")
    for local in sorted({*HEADS.values(), *SUBJECTS.values()}):
        person(local, Role.TEACHER, f"Учитель-{local}", "Анна")
    person("a1", Role.ADMINISTRATOR, "Директорова", "Ольга")
    for local in PARENTS:
        person(local, Role.PARENT, f"Родитель-{local}", "Мария")
    classes: dict[SourcedId, SchoolClass] = {}
    enrollments: set[Enrollment] = set()
    for code, students in STUDENTS.items():
        title = code.upper().replace("A", "А").replace("B", "Б")
        classes[sid(code)] = SchoolClass(sid(code), title, org, ClassKind.HOMEROOM, code[0])
        enrollments |= {Enrollment(sid(code), sid(s), EnrollmentRole.STUDENT) for s in students}
        enrollments.add(Enrollment(sid(code), sid(HEADS[code]), EnrollmentRole.TEACHER, True))
    for (code, subject), teacher in SUBJECTS.items():
        cid = sid(f"{code}-{subject}")
        classes[cid] = SchoolClass(cid, f"{code} {subject}", org, ClassKind.SCHEDULED, code[0])
        enrollments |= {Enrollment(cid, sid(s), EnrollmentRole.STUDENT) for s in STUDENTS[code]}
        enrollments.add(Enrollment(cid, sid(teacher), EnrollmentRole.TEACHER))
    guardians = {Guardianship(sid(p), sid(s)) for p, kids in PARENTS.items() for s in kids}
    return Diary(
        {org: School(org, f"Школа {prefix}")},
        classes,
        people,
        frozenset(enrollments),
        frozenset(guardians),
    )


def move_student(diary: Diary, student: SourcedId, to_class: SourcedId) -> Diary:
    """The same diary with ``student`` moved to another homeroom (and its subject classes)."""
    kept = {
        e
        for e in diary.enrollments
        if not (e.person_id == student and e.role is EnrollmentRole.STUDENT)
    }
    kept.add(Enrollment(to_class, student, EnrollmentRole.STUDENT))
    return Diary(diary.schools, diary.classes, diary.people, frozenset(kept), diary.guardianships)
