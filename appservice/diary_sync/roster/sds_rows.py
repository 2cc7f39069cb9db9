"""Microsoft School Data Sync (SDS) v2.1 CSV rows into the importer's records.

The same checks a single row can answer as for OneRoster (:mod:`oneroster`): blank
required cells, unknown enumerations, booleans, dates, duplicate ids. SDS enumerations
are matched without regard to case, as SDS itself does. What SDS lacks and the diary needs:

- a class's kind (homeroom «класс» or a subject group): parta's optional ``classType``
  column (``homeroom`` or ``scheduled``, as in OneRoster), else the title: ``5А``,
  ``10 Б``, ``11`` are homerooms; anything else is a subject group (``5А Математика``:
  grade 5, subject Математика);
- the class teacher (классный руководитель): parta's optional ``isPrimary`` column in
  ``enrollments.csv``, else the one teacher enrolled in a homeroom class
  (:func:`class_teachers`);
- an enrollment's id: SDS has none, so it is ``classSourcedId/userSourcedId``, and the
  same person twice in one class is a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from appservice.diary_sync.model import ClassKind, EnrollmentRole, Role
from appservice.diary_sync.roster import fields
from appservice.diary_sync.roster.csvfile import Row, Table, column_key
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    ROLES,
    SESSIONS,
    USERS,
)
from appservice.diary_sync.roster.oneroster import ref, refs, required_ref
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

KNOWN_COLUMNS = {
    ORGS: "sourcedId name type parentSourcedId",
    USERS: "sourcedId username givenName familyName middleName password activeDirectoryMatchId "
    "email phone sms userNumber",
    ROLES: "userSourcedId orgSourcedId role sessionSourcedId grade isPrimary roleStartDate "
    "roleEndDate",
    CLASSES: "sourcedId orgSourcedId title code sessionSourcedIds courseSourcedId classType grade "
    "subject",
    ENROLLMENTS: "classSourcedId userSourcedId role isPrimary primary",
    SESSIONS: "sourcedId title type schoolYear startDate endDate",
    COURSES: "sourcedId orgSourcedId title code schoolYearSourcedId subject grade",
}
"""SDS v2.1's columns, with parta's optional additions (middleName, classType, grade,
subject, enrollments' isPrimary); any other column is kept as an extension."""
_KNOWN_KEYS = {
    file: frozenset(column_key(c) for c in columns.split())
    for file, columns in KNOWN_COLUMNS.items()
}
REQUIRED_COLUMNS = {
    ORGS: ("sourcedId", "name", "type"),
    USERS: ("sourcedId", "username", "givenName", "familyName"),
    ROLES: ("userSourcedId", "orgSourcedId", "role"),
    CLASSES: ("sourcedId", "orgSourcedId", "title"),
    ENROLLMENTS: ("classSourcedId", "userSourcedId", "role"),
    SESSIONS: ("sourcedId", "title", "type"),
    COURSES: ("sourcedId", "title"),
}

_ORG_TYPES = (
    "school department district local state national departmentOfEducation ministryOfEducation"
    " university college campus adultEducation municipality academicTrust localAuthority region"
    " division province researchCenter program"
)
ORG_TYPES = {t.lower(): t for t in _ORG_TYPES.split()}
"""SDS's «Organization Types»; parta's schools are the ``school`` ones."""

_STAFF_ROLES = (
    "chair professor researcher adjunct affiliate occupationalTherapist physicalTherapist"
    " speechTherapist visionTherapist paraprofessional specialServices advisor proctor nurse"
    " officeStaff lecturer itAdmin teacher faculty staff teacherAssistant assistant instructor"
    " substitute coach"
)
_STAFF = _STAFF_ROLES.split()
PERSON_ROLES: dict[str, Role] = {
    **{role.lower(): Role.TEACHER for role in _STAFF},
    "principal": Role.ADMINISTRATOR,
    "administrator": Role.ADMINISTRATOR,
    "student": Role.STUDENT,
    "parent": Role.PARENT,
    "guardian": Role.PARENT,
    "relative": Role.PARENT,
}
"""SDS's «Organization user roles» (staff: a teacher's place in the diary; the principal
and administrators: the administration), and OneRoster's words for parents."""
CONTACT_ONLY = frozenset({"other", "alumni"})
"""Roles that say nothing the diary can use: read only for a contact in relationships.csv."""
ENROLLMENT_ROLES: dict[str, EnrollmentRole] = {
    **{role.lower(): EnrollmentRole.TEACHER for role in (*_STAFF, "principal", "administrator")},
    "student": EnrollmentRole.STUDENT,
}

_HOMEROOM = re.compile(r"(\d{1,2})\s*-?\s*([^\W\d_])?", re.UNICODE)
_SUBJECT_GROUP = re.compile(r"(\d{1,2})\s*-?\s*[^\W\d_]?\s+(\S.*)", re.UNICODE)


def read_org(row: Row, sourced: SourcedId, problems: list[Problem]) -> OrgRecord | None:
    name = fields.read_required(row, "name", problems)
    kind = fields.read_choice(row, "type", ORG_TYPES, problems)
    if name is None or kind is None:
        return None
    return OrgRecord(
        sourced, name, kind, row.extras(_KNOWN_KEYS[ORGS]), ref(row, "parentSourcedId")
    )


def read_user(row: Row, sourced: SourcedId, problems: list[Problem]) -> UserRecord | None:
    username = fields.read_required(row, "username", problems)
    given = fields.read_required(row, "givenName", problems)
    family = fields.read_required(row, "familyName", problems)
    if username is None or given is None or family is None:
        return None
    return UserRecord(
        id=sourced,
        origin=Ref(sourced, row.file, row.line, row.headers.get("sourcedid", "sourcedId")),
        role=None,
        given_name=given,
        family_name=family,
        middle_name=row.get("middleName"),
        username=username,
        phone=row.get("phone") or row.get("sms"),
        email=row.get("email"),
        extras=row.extras(_KNOWN_KEYS[USERS]),
    )


def read_class(row: Row, sourced: SourcedId, problems: list[Problem]) -> ClassRecord | None:
    title = fields.read_required(row, "title", problems)
    school = required_ref(row, "orgSourcedId", problems)
    kind: ClassKind | None = _kind_by_title(title or "")
    if row.get("classType"):
        kind = fields.read_choice(row, "classType", fields.CLASS_KINDS, problems)
    if title is None or school is None or kind is None:
        return None
    grade, subject = _grade_and_subject(title)
    return ClassRecord(
        id=sourced,
        title=title,
        school=school,
        kind=kind,
        grade=fields.first_grade(row.get("grade")) or grade,
        subject=row.get("subject") or subject,
        course=ref(row, "courseSourcedId"),
        extras=row.extras(_KNOWN_KEYS[CLASSES]),
    )


def _kind_by_title(title: str) -> ClassKind:
    return ClassKind.HOMEROOM if _HOMEROOM.fullmatch(title.strip()) else ClassKind.SCHEDULED


def _grade_and_subject(title: str) -> tuple[str, str]:
    """``5А`` -> (5, ""), ``5А Математика`` -> (5, Математика), ``Алгебра`` -> ("", "")."""
    title = title.strip()
    if (homeroom := _HOMEROOM.fullmatch(title)) is not None:
        return str(int(homeroom.group(1))), ""
    if (group := _SUBJECT_GROUP.fullmatch(title)) is not None:
        return str(int(group.group(1))), group.group(2)
    return "", ""


def read_course(row: Row, sourced: SourcedId, problems: list[Problem]) -> CourseRecord | None:
    """A course's title is the subject of its classes that name none (SDS's own ``subject``
    is a code from its list, not the school's word)."""
    title = fields.read_required(row, "title", problems)
    return None if title is None else CourseRecord(sourced, title)


def read_session(row: Row, sourced: SourcedId, problems: list[Problem]) -> Extras | None:
    """Terms are not part of the diary: checked, and referred to by classes and roles."""
    title = fields.read_required(row, "title", problems)
    kind = fields.read_required(row, "type", problems)
    fields.check_date(row, "startDate", problems, with_time=False)
    fields.check_date(row, "endDate", problems, with_time=False)
    if title is None or kind is None:
        return None
    return row.extras(_KNOWN_KEYS[SESSIONS])


@dataclass(frozen=True)
class ContactRole:
    """A roles.csv row whose role (``other``) counts only if relationships.csv names the user."""

    user: Ref
    role: str
    org: Ref | None
    cell: Ref


@dataclass
class RolesFile:
    """What roles.csv says: roles, roles that need a guardian, sessions named, and users
    whose row was refused (reported there, so not again as «no role»)."""

    roles: list[RoleRecord] = field(default_factory=list)
    contacts: list[ContactRole] = field(default_factory=list)
    sessions: list[Ref] = field(default_factory=list)
    refused: set[SourcedId] = field(default_factory=set)


def read_roles(table: Table, problems: list[Problem]) -> RolesFile:
    found = RolesFile()
    seen: dict[tuple[str, str, str], int] = {}
    for row in table.rows:
        before = len(problems)
        user = required_ref(row, "userSourcedId", problems)
        org = required_ref(row, "orgSourcedId", problems)
        primary = fields.read_bool(row, "isPrimary", False, problems)
        fields.check_date(row, "roleStartDate", problems, with_time=False)
        fields.check_date(row, "roleEndDate", problems, with_time=False)
        found.sessions.extend(refs(row, "sessionSourcedId"))
        value = row.get("role")
        key = (row.get("userSourcedId"), row.get("orgSourcedId"), value.lower())
        if key in seen and all(key):
            reason = (
                f"duplicate: line {seen[key]} gives {key[0]!r} the role {value!r} in {key[1]!r}"
            )
            problems.append(row.problem("role", reason))
        seen.setdefault(key, row.line)
        role = None
        if value.lower() not in CONTACT_ONLY:
            role = fields.read_choice(row, "role", PERSON_ROLES, problems)
        if user is None:
            continue
        if len(problems) > before or primary is None:
            found.refused.add(user.target)
        elif role is not None:
            found.roles.append(RoleRecord(user, role, primary, org))
        elif value.lower() in CONTACT_ONLY:
            cell = Ref(user.target, row.file, row.line, row.headers.get("role", "role"))
            found.contacts.append(ContactRole(user, value, org, cell))
    return found


def read_enrollments(table: Table, problems: list[Problem]) -> Changes[EnrollmentRecord]:
    """Rows keyed ``class/user``; a parent's row (OneRoster allows it) is skipped, as there."""
    changes: Changes[EnrollmentRecord] = Changes()
    primary_column = (
        "isPrimary" if table.has("isPrimary") or not table.has("primary") else "primary"
    )
    seen: dict[tuple[SourcedId, SourcedId], int] = {}
    for row in table.rows:
        before = len(problems)
        klass = required_ref(row, "classSourcedId", problems)
        person = required_ref(row, "userSourcedId", problems)
        primary = fields.read_bool(row, primary_column, False, problems)
        if row.get("role").lower() in fields.SKIPPED_ENROLLMENT_ROLES:
            continue
        role = fields.read_choice(row, "role", ENROLLMENT_ROLES, problems)
        if klass is None or person is None:
            continue
        pair = (klass.target, person.target)
        if pair in seen:
            reason = f"duplicate: line {seen[pair]} enrolls {pair[1]!r} in {pair[0]!r} already"
            problems.append(row.problem("userSourcedId", reason))
            continue
        seen[pair] = row.line
        if len(problems) > before or role is None or primary is None:
            continue
        sourced = SourcedId(f"{klass.target}/{person.target}")
        extras = row.extras(_KNOWN_KEYS[ENROLLMENTS])
        changes.upserts[sourced] = EnrollmentRecord(
            sourced, klass, person, role, primary, None, extras
        )
    return changes


def class_teachers(
    classes: Changes[ClassRecord],
    enrollments: Changes[EnrollmentRecord],
    warnings: list[Problem],
) -> None:
    """A homeroom class with no enrollment marked ``isPrimary`` is headed by its one teacher;
    with several teachers and none marked, it has no class teacher (a warning)."""
    teachers: dict[SourcedId, list[EnrollmentRecord]] = {}
    for enrollment in enrollments.upserts.values():
        if enrollment.role is EnrollmentRole.TEACHER:
            teachers.setdefault(enrollment.klass.target, []).append(enrollment)
    for class_id, klass in classes.upserts.items():
        found = teachers.get(class_id, [])
        if klass.kind is not ClassKind.HOMEROOM or any(e.primary for e in found):
            continue
        if len(found) == 1:
            enrollments.upserts[found[0].id] = replace(found[0], primary=True)
        elif found:
            reason = (
                f"{len(found)} teachers are enrolled in homeroom class {class_id!r} and none is"
                " marked isPrimary in enrollments.csv: it has no class teacher"
            )
            place = replace(klass.school, column="title")
            warnings.append(place.problem(reason).as_warning())
