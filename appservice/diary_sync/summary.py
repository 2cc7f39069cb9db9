"""What a roster holds, in numbers an operator checks before applying it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role

_ROLE_LABELS = {
    Role.STUDENT: "Ученики (students)",
    Role.PARENT: "Родители (parents)",
    Role.TEACHER: "Учителя (teachers)",
    Role.ADMINISTRATOR: "Администрация (administrators)",
}


@dataclass(frozen=True)
class RosterSummary:
    schools: int
    classes: int
    """Homerooms only (5А); subject classes are counted apart."""
    subject_classes: int
    people_by_role: Mapping[Role, int]
    students_with_parents: int
    students_without_class: int
    """Students in no homeroom: they would get no class room, so worth a look."""
    parent_links: int


def summarize(diary: Diary) -> RosterSummary:
    kinds = [klass.kind for klass in diary.classes.values()]
    homerooms = {c.id for c in diary.classes.values() if c.kind is ClassKind.HOMEROOM}
    students = {p.id for p in diary.people.values() if p.role is Role.STUDENT}
    placed = {
        e.person_id
        for e in diary.enrollments
        if e.class_id in homerooms and e.role is EnrollmentRole.STUDENT
    }
    with_parents = {g.student_id for g in diary.guardianships} & students
    return RosterSummary(
        schools=len(diary.schools),
        classes=kinds.count(ClassKind.HOMEROOM),
        subject_classes=kinds.count(ClassKind.SCHEDULED),
        people_by_role={
            role: sum(1 for p in diary.people.values() if p.role is role) for role in Role
        },
        students_with_parents=len(with_parents),
        students_without_class=len(students - placed),
        parent_links=len(diary.guardianships),
    )


def format_summary(summary: RosterSummary) -> str:
    lines = [
        ("Школы (schools)", summary.schools),
        ("Классы (classes)", summary.classes),
        ("Предметные группы (subject classes)", summary.subject_classes),
        *((_ROLE_LABELS[role], summary.people_by_role.get(role, 0)) for role in Role),
        ("Ученики с родителями (students with parents)", summary.students_with_parents),
        ("Ученики без класса (students without a class)", summary.students_without_class),
        ("Связи родитель–ученик (parent links)", summary.parent_links),
    ]
    return "\n".join(f"{label}: {count}" for label, count in lines)
