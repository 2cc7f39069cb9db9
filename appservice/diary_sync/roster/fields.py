"""OneRoster's field vocabulary: statuses, booleans, dates, lists and role names.

Each reader returns the parsed value, or appends a Problem and returns ``None``
so a row can report every bad cell before being dropped.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from appservice.diary_sync.model import ClassKind, EnrollmentRole, Role
from appservice.diary_sync.roster.csvfile import Row
from appservice.diary_sync.roster.errors import Problem
from kernel.ids import SourcedId

_T = TypeVar("_T")


class Status(StrEnum):
    ACTIVE = "active"
    DELETED = "tobedeleted"


_STATUSES = {"active": Status.ACTIVE, "tobedeleted": Status.DELETED, "inactive": Status.DELETED}
"""``inactive`` is OneRoster 1.0's word for ``tobedeleted``."""

PERSON_ROLES: dict[str, Role] = {
    "student": Role.STUDENT,
    "parent": Role.PARENT,
    "guardian": Role.PARENT,
    "relative": Role.PARENT,
    "teacher": Role.TEACHER,
    "aide": Role.TEACHER,
    "counselor": Role.TEACHER,
    "administrator": Role.ADMINISTRATOR,
    "principal": Role.ADMINISTRATOR,
    "districtadministrator": Role.ADMINISTRATOR,
    "siteadministrator": Role.ADMINISTRATOR,
    "systemadministrator": Role.ADMINISTRATOR,
    "proctor": Role.ADMINISTRATOR,
}
"""Keys are lower-cased; a counselor (школьный психолог) works with classes like a teacher."""

ENROLLMENT_ROLES: dict[str, EnrollmentRole] = {
    "student": EnrollmentRole.STUDENT,
    "teacher": EnrollmentRole.TEACHER,
    "aide": EnrollmentRole.TEACHER,
    "administrator": EnrollmentRole.TEACHER,
    "proctor": EnrollmentRole.TEACHER,
}
SKIPPED_ENROLLMENT_ROLES = frozenset({"parent", "guardian", "relative"})
"""OneRoster 1.1 allows parents in enrollments; the diary takes guardians from agents."""

CLASS_KINDS = {"homeroom": ClassKind.HOMEROOM, "scheduled": ClassKind.SCHEDULED}
ORG_TYPES = frozenset({"department", "school", "district", "local", "state", "national"})


def split_ids(value: str) -> tuple[SourcedId, ...]:
    return tuple(SourcedId(part.strip()) for part in value.split(",") if part.strip())


def first_grade(value: str) -> str:
    """``"05,06"`` -> ``"5"``: the diary knows one grade per class."""
    grades = [part.strip() for part in value.split(",") if part.strip()]
    if not grades:
        return ""
    grade = grades[0]
    return str(int(grade)) if grade.isdigit() else grade


def read_status(row: Row, delta: bool, problems: list[Problem]) -> Status | None:
    value = row.get("status").lower()
    if not value and not delta:
        return Status.ACTIVE
    status = _STATUSES.get(value)
    if status is None:
        reason = "blank in a delta file" if not value else f"unknown status {value!r}"
        problems.append(row.problem("status", reason))
    return status


def read_bool(row: Row, column: str, default: bool, problems: list[Problem]) -> bool | None:
    value = row.get(column).lower()
    if not value:
        return default
    if value in ("true", "false"):
        return value == "true"
    problems.append(row.problem(column, f"expected true or false, got {row.get(column)!r}"))
    return None


def check_date(row: Row, column: str, problems: list[Problem], *, with_time: bool) -> bool:
    """Whether a date cell (blank allowed) is ISO 8601; ``dateLastModified`` has a time."""
    value = row.get(column)
    if not value:
        return True
    try:
        if with_time:
            datetime.fromisoformat(value)
        else:
            date.fromisoformat(value)
    except ValueError:
        shape = "YYYY-MM-DDThh:mm:ss.sssZ" if with_time else "YYYY-MM-DD"
        problems.append(row.problem(column, f"malformed date {value!r}, expected {shape}"))
        return False
    return True


def read_required(row: Row, column: str, problems: list[Problem]) -> str | None:
    value = row.get(column)
    if not value:
        problems.append(row.problem(column, "required value is blank"))
        return None
    return value


def read_choice(
    row: Row, column: str, choices: dict[str, _T], problems: list[Problem]
) -> _T | None:
    value = row.get(column)
    key = value.lower().replace(" ", "")
    if key in choices:
        return choices[key]
    reason = "required value is blank" if not value else f"unknown {column} {value!r}"
    problems.append(row.problem(column, reason))
    return None
