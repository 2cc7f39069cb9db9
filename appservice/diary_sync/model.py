"""The diary as the sync sees it: schools, classes, people, enrollments, guardians.

Every importer (OneRoster 1.1/1.2, SDS relationships, the built-in diary) yields
a :class:`Diary`. Objects are frozen and validated on construction so the layout
never has to doubt them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kernel.ids import SourcedId


class Role(StrEnum):
    """A person's role in the school (OneRoster's roles folded onto the seed's)."""

    STUDENT = "student"
    PARENT = "parent"
    TEACHER = "teacher"
    ADMINISTRATOR = "administrator"

    @property
    def is_staff(self) -> bool:
        return self in (Role.TEACHER, Role.ADMINISTRATOR)

    @property
    def is_minor_side(self) -> bool:
        """Students are treated as minors whatever their age: the safe default."""
        return self is Role.STUDENT


class ClassKind(StrEnum):
    HOMEROOM = "homeroom"
    SCHEDULED = "scheduled"


class EnrollmentRole(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"


@dataclass(frozen=True)
class School:
    id: SourcedId
    name: str


@dataclass(frozen=True)
class Person:
    id: SourcedId
    role: Role
    given_name: str
    family_name: str
    middle_name: str = ""
    username: str = ""
    phone: str = ""
    email: str = ""
    school_ids: frozenset[SourcedId] = frozenset()

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a person needs an id")

    @property
    def display_name(self) -> str:
        """Russian order: family name, given name (the diary shows «Агибалов Николай»)."""
        return " ".join(part for part in (self.family_name, self.given_name) if part)


@dataclass(frozen=True)
class SchoolClass:
    """A OneRoster class: a homeroom (5А) or a scheduled subject class (5А Математика)."""

    id: SourcedId
    title: str
    school_id: SourcedId
    kind: ClassKind
    grade: str = ""
    subject: str = ""


@dataclass(frozen=True)
class Enrollment:
    class_id: SourcedId
    person_id: SourcedId
    role: EnrollmentRole
    primary: bool = False
    id: SourcedId = field(default=SourcedId(""), compare=False)
    """The roster's enrollment sourcedId: a later delta deletes enrollments by it.

    Left out of equality so two imports of the same membership compare equal.
    """


@dataclass(frozen=True)
class Guardianship:
    parent_id: SourcedId
    student_id: SourcedId


@dataclass(frozen=True)
class Diary:
    """One import's worth of diary data, already cross-checked by the importer."""

    schools: Mapping[SourcedId, School]
    classes: Mapping[SourcedId, SchoolClass]
    people: Mapping[SourcedId, Person]
    enrollments: frozenset[Enrollment] = frozenset()
    guardianships: frozenset[Guardianship] = frozenset()
    extensions: Mapping[str, Mapping[SourcedId, Mapping[str, str]]] = field(default_factory=dict)
    """Unknown (extension) columns kept per file name, then per sourcedId."""

    def class_teacher(self, class_id: SourcedId) -> SourcedId | None:
        """The primary teacher of a homeroom class (классный руководитель), a member of staff:
        a pupil enrolled as the class's teacher (OneRoster allows it) never heads it."""
        primaries = sorted(
            e.person_id
            for e in self.enrollments
            if e.class_id == class_id
            and e.role is EnrollmentRole.TEACHER
            and e.primary
            and (person := self.people.get(e.person_id)) is not None
            and person.role.is_staff
        )
        return primaries[0] if primaries else None

    def members_of(self, class_id: SourcedId, role: EnrollmentRole) -> frozenset[SourcedId]:
        return frozenset(
            e.person_id for e in self.enrollments if e.class_id == class_id and e.role is role
        )

    def parents_of(self, student_id: SourcedId) -> frozenset[SourcedId]:
        return frozenset(g.parent_id for g in self.guardianships if g.student_id == student_id)
