"""Rows as read, before cross-checking: the importer's intermediate form.

Records keep where they came from (:class:`Ref` names file, line and column of
every reference) so a dangling id found late is still reported at its cell.
A delta is merged at this level, then one cross-check builds the Diary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from appservice.diary_sync.model import ClassKind, EnrollmentRole, Role
from appservice.diary_sync.roster.errors import Problem
from kernel.ids import SourcedId

Extras = Mapping[str, str]
"""Unknown columns of one row, keyed by header as written."""


@dataclass(frozen=True)
class Ref:
    """An id found in a cell: the thing it names must exist."""

    target: SourcedId
    file: str
    line: int
    column: str

    def problem(self, reason: str) -> Problem:
        return Problem(self.file, self.line, self.column, reason)


@dataclass(frozen=True)
class OrgRecord:
    id: SourcedId
    name: str
    type: str
    extras: Extras | None = None
    parent: Ref | None = None
    """``parentSourcedId``: the district above a school, say."""


@dataclass(frozen=True)
class UserRecord:
    id: SourcedId
    origin: Ref
    """Points at the row's role cell: the one problem a user row can have late."""
    role: Role | None
    given_name: str
    family_name: str
    middle_name: str = ""
    username: str = ""
    phone: str = ""
    email: str = ""
    orgs: tuple[Ref, ...] = ()
    agents: tuple[Ref, ...] = ()
    extras: Extras | None = None


@dataclass(frozen=True)
class ClassRecord:
    id: SourcedId
    title: str
    school: Ref
    kind: ClassKind
    grade: str = ""
    subject: str = ""
    course: Ref | None = None
    extras: Extras | None = None


@dataclass(frozen=True)
class EnrollmentRecord:
    id: SourcedId
    klass: Ref
    person: Ref
    role: EnrollmentRole
    primary: bool = False
    school: Ref | None = None
    extras: Extras | None = None


@dataclass(frozen=True)
class RoleRecord:
    """A OneRoster 1.2 or SDS v2.1 ``roles.csv`` row: the role lives here, not in users.csv."""

    user: Ref
    role: Role
    primary: bool
    org: Ref | None


@dataclass(frozen=True)
class CourseRecord:
    id: SourcedId
    subject: str
    extras: Extras | None = None


@dataclass(frozen=True)
class LinkRecord:
    """An SDS relationship: a guardian of a student (or its removal, in a delta)."""

    guardian: Ref
    student: Ref
    removed: bool = False


R = TypeVar("R")


@dataclass
class Changes(Generic[R]):
    """What one file says: rows to upsert and, in a delta, ids to delete."""

    delta: bool = False
    upserts: dict[SourcedId, R] = field(default_factory=dict)
    deletions: set[SourcedId] = field(default_factory=set)
    rejected: set[SourcedId] = field(default_factory=set)
    """Rows refused with a problem: references to them are not reported again."""


@dataclass
class RecordSet:
    """Everything one import (or one merged base plus delta) holds."""

    orgs: dict[SourcedId, OrgRecord] = field(default_factory=dict)
    users: dict[SourcedId, UserRecord] = field(default_factory=dict)
    classes: dict[SourcedId, ClassRecord] = field(default_factory=dict)
    enrollments: dict[SourcedId, EnrollmentRecord] = field(default_factory=dict)
    courses: dict[SourcedId, CourseRecord] | None = None
    """``None`` unless a bulk courses file was read: course references go unchecked."""
    links: list[LinkRecord] = field(default_factory=list)
    extensions: dict[str, dict[SourcedId, Extras]] = field(default_factory=dict)
    """Extension columns of files whose rows the diary does not keep (courses, roles, terms)."""
    rejected: set[SourcedId] = field(default_factory=set)
    partial: bool = False
    """A delta read without the import it applies to: ids outside it may exist there."""
    deleted: set[SourcedId] = field(default_factory=set)
    """Ids the delta marks ``tobedeleted``: a reference to one is wrong even then."""
