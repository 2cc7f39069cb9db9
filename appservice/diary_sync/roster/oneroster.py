"""OneRoster 1.1 / 1.2 CSV files, one row at a time, into records.

Checks here are the ones a single row can answer (blank required cells, bad
booleans, dates, roles, class types, duplicate ids); whether references point
anywhere is :mod:`crosscheck`'s job once every file is read.

1.1 keeps a user's role and orgs in ``users.csv``; 1.2 moves them to ``roles.csv``
(plus ``primaryOrgSourcedId``). Both are read; :mod:`crosscheck` folds roles in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from appservice.diary_sync.model import Role
from appservice.diary_sync.roster import fields
from appservice.diary_sync.roster.csvfile import Row, Table, column_key
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.fields import Status
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    ROLES,
    SESSIONS,
    USERS,
)
from appservice.diary_sync.roster.records import (
    Changes,
    ClassRecord,
    CourseRecord,
    EnrollmentRecord,
    Extras,
    OrgRecord,
    Ref,
    RoleRecord,
    UserRecord,
)
from kernel.ids import SourcedId

R = TypeVar("R")
Builder = Callable[[Row, SourcedId, list[Problem]], R | None]

_COMMON = ("sourcedId", "status", "dateLastModified")
_USER_COLUMNS = (
    "enabledUser orgSourcedIds role roles username userIds givenName familyName middleName "
    "identifier email sms phone agentSourcedIds grades password userMasterIdentifier "
    "resourceSourcedIds preferredGivenName preferredMiddleName preferredFamilyName "
    "preferredFirstName primaryOrgSourcedId pronouns"
)
KNOWN_COLUMNS = {
    ORGS: "name type identifier parentSourcedId",
    USERS: _USER_COLUMNS,
    CLASSES: "title grades courseSourcedId classCode classType location schoolSourcedId "
    "termSourcedIds subjects subjectCodes periods",
    ENROLLMENTS: "classSourcedId schoolSourcedId userSourcedId role primary beginDate endDate",
    COURSES: "schoolYearSourcedId title courseCode grades orgSourcedId subjects subjectCodes",
    SESSIONS: "title type startDate endDate parentSourcedId schoolYear",
    ROLES: "userSourcedId roleType role beginDate endDate orgSourcedId userProfileSourcedId",
}
_KNOWN_KEYS = {
    file: frozenset(column_key(c) for c in (*_COMMON, *columns.split()))
    for file, columns in KNOWN_COLUMNS.items()
}
REQUIRED_COLUMNS = {
    ORGS: ("sourcedId", "name", "type"),
    USERS: ("sourcedId", "givenName", "familyName"),
    CLASSES: ("sourcedId", "title", "classType", "schoolSourcedId"),
    ENROLLMENTS: ("sourcedId", "classSourcedId", "userSourcedId", "role"),
    COURSES: ("sourcedId", "title"),
    SESSIONS: ("sourcedId",),
    ROLES: ("userSourcedId", "role"),
}
DELTA_COLUMNS = ("status", "dateLastModified")
V10_ALIASES = {
    "agents": "agentSourcedIds",
    "grade": "grades",
    "termSourcedId": "termSourcedIds",
    "userId": "userIds",
}
"""OneRoster 1.0's names of columns 1.1 renamed."""


def ref(row: Row, column: str) -> Ref | None:
    value = row.get(column)
    if not value:
        return None
    return Ref(SourcedId(value), row.file, row.line, row.headers.get(column_key(column), column))


def required_ref(row: Row, column: str, problems: list[Problem]) -> Ref | None:
    if fields.read_required(row, column, problems) is None:
        return None
    return ref(row, column)


def refs(row: Row, column: str) -> tuple[Ref, ...]:
    header = row.headers.get(column_key(column), column)
    return tuple(
        Ref(target, row.file, row.line, header) for target in fields.split_ids(row.get(column))
    )


def read_orgs(table: Table, delta: bool, problems: list[Problem]) -> Changes[OrgRecord]:
    return collect(table, delta, problems, _org)


def read_users(table: Table, delta: bool, problems: list[Problem]) -> Changes[UserRecord]:
    return collect(table, delta, problems, _user)


def read_classes(table: Table, delta: bool, problems: list[Problem]) -> Changes[ClassRecord]:
    return collect(table, delta, problems, _class)


def read_enrollments(
    table: Table, delta: bool, problems: list[Problem]
) -> Changes[EnrollmentRecord]:
    return collect(table, delta, problems, _enrollment)


def read_courses(table: Table, delta: bool, problems: list[Problem]) -> Changes[CourseRecord]:
    return collect(table, delta, problems, _course)


def read_sessions(table: Table, delta: bool, problems: list[Problem]) -> Changes[Extras]:
    """Terms are not part of the diary; their rows are only checked and their extras kept."""
    return collect(table, delta, problems, _session)


def read_roles(
    table: Table, delta: bool, problems: list[Problem]
) -> tuple[list[RoleRecord], Changes[Extras]]:
    """``roles.csv`` rows; a ``tobedeleted`` role is dropped (deleting the user removes it).

    A deleted row, like one of any other file, needs no more than its id and status.
    """
    roles: list[RoleRecord] = []
    extras: Changes[Extras] = Changes(delta)
    seen: set[str] = set()
    for row in table.rows:
        before = len(problems)
        status = fields.read_status(row, delta, problems)
        sourced = row.get("sourcedId")
        if sourced and sourced in seen:
            problems.append(row.problem("sourcedId", f"duplicate sourcedId {sourced!r}"))
        seen.add(sourced)
        if status is Status.DELETED:
            if delta and sourced:
                extras.deletions.add(SourcedId(sourced))
            continue
        record = _role(row, problems)
        if len(problems) > before and row.get("userSourcedId"):
            extras.rejected.add(SourcedId(row.get("userSourcedId")))
        if len(problems) > before or record is None:
            continue
        roles.append(record)
        if sourced:
            extras.upserts[SourcedId(sourced)] = row.extras(_KNOWN_KEYS[ROLES])
    return roles, extras


def collect(table: Table, delta: bool, problems: list[Problem], build: Builder[R]) -> Changes[R]:
    changes: Changes[R] = Changes(delta)
    for row, sourced, status in _rows(table, delta, problems):
        if status is Status.DELETED:
            if delta:
                changes.deletions.add(sourced)
            continue
        before = len(problems)
        record = build(row, sourced, problems)
        if record is not None and len(problems) == before:
            changes.upserts[sourced] = record
        elif len(problems) > before:
            changes.rejected.add(sourced)
    return changes


def _rows(
    table: Table, delta: bool, problems: list[Problem]
) -> Iterator[tuple[Row, SourcedId, Status]]:
    """Rows with a usable sourcedId and status; the first of duplicate ids wins."""
    seen: set[str] = set()
    for row in table.rows:
        sourced = fields.read_required(row, "sourcedId", problems)
        status = fields.read_status(row, delta, problems)
        if delta:
            fields.read_required(row, "dateLastModified", problems)
        fields.check_date(row, "dateLastModified", problems, with_time=True)
        if sourced is None or status is None:
            continue
        if sourced in seen:
            problems.append(row.problem("sourcedId", f"duplicate sourcedId {sourced!r}"))
            continue
        seen.add(sourced)
        yield row, SourcedId(sourced), status


def _org(row: Row, sourced: SourcedId, problems: list[Problem]) -> OrgRecord | None:
    name = fields.read_required(row, "name", problems)
    kind = fields.read_choice(row, "type", {t: t for t in fields.ORG_TYPES}, problems)
    if name is None or kind is None:
        return None
    parent = ref(row, "parentSourcedId")
    return OrgRecord(sourced, name, kind, row.extras(_KNOWN_KEYS[ORGS]), parent)


def _user(row: Row, sourced: SourcedId, problems: list[Problem]) -> UserRecord | None:
    given = fields.read_required(row, "givenName", problems)
    family = fields.read_required(row, "familyName", problems)
    role = _user_role(row, problems)
    fields.read_bool(row, "enabledUser", True, problems)
    if given is None or family is None:
        return None
    orgs = refs(row, "orgSourcedIds") + refs(row, "primaryOrgSourcedId")
    return UserRecord(
        id=sourced,
        origin=Ref(sourced, row.file, row.line, row.headers.get("role", "role")),
        role=role,
        given_name=given,
        family_name=family,
        middle_name=row.get("middleName"),
        username=row.get("username"),
        phone=row.get("phone") or row.get("sms"),
        email=row.get("email"),
        orgs=orgs,
        agents=refs(row, "agentSourcedIds"),
        extras=row.extras(_KNOWN_KEYS[USERS]),
    )


def _user_role(row: Row, problems: list[Problem]) -> Role | None:
    """The users.csv role (1.1; ``roles`` as some exports spell it); blank means roles.csv."""
    column = "role" if "role" in row.headers or "roles" not in row.headers else "roles"
    listed = fields.split_ids(row.get(column))
    if not listed:
        return None
    role = fields.PERSON_ROLES.get(listed[0].lower())
    if role is None:
        problems.append(row.problem(column, f"unknown role {listed[0]!r}"))
    return role


def _class(row: Row, sourced: SourcedId, problems: list[Problem]) -> ClassRecord | None:
    title = fields.read_required(row, "title", problems)
    kind = fields.read_choice(row, "classType", fields.CLASS_KINDS, problems)
    school = required_ref(row, "schoolSourcedId", problems)
    if title is None or kind is None or school is None:
        return None
    return ClassRecord(
        id=sourced,
        title=title,
        school=school,
        kind=kind,
        grade=fields.first_grade(row.get("grades")),
        subject=", ".join(fields.split_ids(row.get("subjects"))),
        course=ref(row, "courseSourcedId"),
        extras=row.extras(_KNOWN_KEYS[CLASSES]),
    )


def _enrollment(row: Row, sourced: SourcedId, problems: list[Problem]) -> EnrollmentRecord | None:
    klass = required_ref(row, "classSourcedId", problems)
    person = required_ref(row, "userSourcedId", problems)
    primary = fields.read_bool(row, "primary", False, problems)
    fields.check_date(row, "beginDate", problems, with_time=False)
    fields.check_date(row, "endDate", problems, with_time=False)
    if row.get("role").lower() in fields.SKIPPED_ENROLLMENT_ROLES:
        return None
    role = fields.read_choice(row, "role", fields.ENROLLMENT_ROLES, problems)
    if klass is None or person is None or role is None or primary is None:
        return None
    school = ref(row, "schoolSourcedId")
    extras = row.extras(_KNOWN_KEYS[ENROLLMENTS])
    return EnrollmentRecord(sourced, klass, person, role, primary, school, extras)


def _course(row: Row, sourced: SourcedId, problems: list[Problem]) -> CourseRecord | None:
    if fields.read_required(row, "title", problems) is None:
        return None
    subject = ", ".join(fields.split_ids(row.get("subjects")))
    return CourseRecord(sourced, subject, row.extras(_KNOWN_KEYS[COURSES]))


def _session(row: Row, sourced: SourcedId, problems: list[Problem]) -> Extras:
    fields.check_date(row, "startDate", problems, with_time=False)
    fields.check_date(row, "endDate", problems, with_time=False)
    return row.extras(_KNOWN_KEYS[SESSIONS])


def _role(row: Row, problems: list[Problem]) -> RoleRecord | None:
    user = required_ref(row, "userSourcedId", problems)
    role = fields.read_choice(row, "role", fields.PERSON_ROLES, problems)
    kind = row.get("roleType").lower() or "primary"
    if kind not in ("primary", "secondary"):
        problems.append(row.problem("roleType", f"expected primary or secondary: {kind!r}"))
    fields.check_date(row, "beginDate", problems, with_time=False)
    fields.check_date(row, "endDate", problems, with_time=False)
    if user is None or role is None:
        return None
    return RoleRecord(user, role, kind == "primary", ref(row, "orgSourcedId"))
