"""Writing a Diary as a OneRoster 1.2 CSV bulk export (what the generator ships).

Guardians are written once, as ``agentSourcedIds`` on both sides (students list
their parents, parents their children), not also as an SDS ``relationships.csv``:
two sources for one fact could disagree. Roles and orgs go to ``roles.csv`` as
1.2 wants; extension columns found in ``Diary.extensions`` are written back.
Courses are not written (the Diary has none), so ``courseSourcedId`` is blank.

Output is deterministic: rows sorted by sourcedId, a fixed ``dateLastModified``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from appservice.diary_sync.model import Diary, Enrollment, Role
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    ENROLLMENTS,
    ORGS,
    ROLES,
    SESSIONS,
    USERS,
)
from kernel.ids import SourcedId

MODIFIED = "2025-09-01T00:00:00.000Z"
TERM = SourcedId("term-2025")
_ROLE_NAMES = {
    Role.STUDENT: "student",
    Role.PARENT: "parent",
    Role.TEACHER: "teacher",
    Role.ADMINISTRATOR: "siteAdministrator",
}
_ABSENT = (
    "categories classResources courses courseResources demographics lineItems "
    "lineItemLearningObjectiveIds lineItemScoreScales resources results "
    "resultLearningObjectiveIds resultScoreScales scoreScales userProfiles userResources"
)


def write_oneroster12(diary: Diary, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "manifest.csv", ["propertyName", "value"], _manifest())
    write_csv(out / SESSIONS, *_sessions())
    write_csv(out / ORGS, *with_extras(diary, ORGS, *_orgs(diary)))
    write_csv(out / USERS, *with_extras(diary, USERS, *_users(diary)))
    write_csv(out / ROLES, *_roles(diary))
    write_csv(out / CLASSES, *with_extras(diary, CLASSES, *_classes(diary)))
    write_csv(out / ENROLLMENTS, *with_extras(diary, ENROLLMENTS, *_enrollments(diary)))


Rows = list[dict[str, str]]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _common(sourced: str) -> dict[str, str]:
    return {"sourcedId": sourced, "status": "active", "dateLastModified": MODIFIED}


def _manifest() -> list[dict[str, str]]:
    props = {"manifest.version": "1.0", "oneroster.version": "1.2"}
    for name in (SESSIONS, ORGS, USERS, ROLES, CLASSES, ENROLLMENTS):
        props[f"file.{name.removesuffix('.csv')}"] = "bulk"
    for name in _ABSENT.split():
        props[f"file.{name}"] = "absent"
    props |= {"source.systemName": "parta generator", "source.systemCode": "parta"}
    return [{"propertyName": key, "value": value} for key, value in props.items()]


def _sessions() -> tuple[list[str], Rows]:
    header = [*_common(""), "title", "type", "startDate", "endDate", "parentSourcedId"]
    row = _common(TERM) | {"title": "2025/2026 учебный год", "type": "schoolYear"}
    row |= {"startDate": "2025-09-01", "endDate": "2026-05-31", "parentSourcedId": ""}
    return [*header, "schoolYear"], [row | {"schoolYear": "2026"}]


def _orgs(diary: Diary) -> tuple[list[str], Rows]:
    header = [*_common(""), "name", "type", "identifier", "parentSourcedId"]
    rows = [
        _common(s.id) | {"name": s.name, "type": "school", "identifier": "", "parentSourcedId": ""}
        for s in sorted(diary.schools.values(), key=lambda s: s.id)
    ]
    return header, rows


def _users(diary: Diary) -> tuple[list[str], Rows]:
    header = [*_common(""), "enabledUser", "username", "givenName", "familyName", "middleName"]
    header += ["email", "sms", "phone", "agentSourcedIds", "primaryOrgSourcedId"]
    agents: dict[SourcedId, set[SourcedId]] = {}
    for link in diary.guardianships:
        agents.setdefault(link.student_id, set()).add(link.parent_id)
        agents.setdefault(link.parent_id, set()).add(link.student_id)
    rows = []
    for person in sorted(diary.people.values(), key=lambda p: p.id):
        row = _common(person.id) | {"enabledUser": "true", "username": person.username}
        row |= {"givenName": person.given_name, "familyName": person.family_name}
        row |= {"middleName": person.middle_name, "email": person.email, "sms": ""}
        row |= {
            "phone": person.phone,
            "agentSourcedIds": ",".join(sorted(agents.get(person.id, ()))),
        }
        rows.append(row | {"primaryOrgSourcedId": min(person.school_ids, default="")})
    return header, rows


def _roles(diary: Diary) -> tuple[list[str], Rows]:
    header = [*_common(""), "userSourcedId", "roleType", "role", "beginDate", "endDate"]
    header += ["orgSourcedId", "userProfileSourcedId"]
    rows = []
    for person in sorted(diary.people.values(), key=lambda p: p.id):
        for index, school in enumerate(sorted(person.school_ids) or [""]):
            row = _common(f"role-{person.id}-{index + 1}") | {"userSourcedId": person.id}
            row |= {"roleType": "primary" if index == 0 else "secondary"}
            row |= {"role": _ROLE_NAMES[person.role], "beginDate": "", "endDate": ""}
            rows.append(row | {"orgSourcedId": school, "userProfileSourcedId": ""})
    return header, rows


def _classes(diary: Diary) -> tuple[list[str], Rows]:
    header = [*_common(""), "title", "grades", "courseSourcedId", "classCode", "classType"]
    header += ["location", "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes"]
    rows = []
    for klass in sorted(diary.classes.values(), key=lambda k: k.id):
        row = _common(klass.id) | {"title": klass.title, "grades": _grade(klass.grade)}
        row |= {"courseSourcedId": "", "classCode": klass.title, "classType": klass.kind.value}
        row |= {"location": "", "schoolSourcedId": klass.school_id, "termSourcedIds": TERM}
        rows.append(row | {"subjects": klass.subject, "subjectCodes": ""})
    return header, rows


def _enrollments(diary: Diary) -> tuple[list[str], Rows]:
    header = [*_common(""), "classSourcedId", "schoolSourcedId", "userSourcedId", "role"]
    header += ["primary", "beginDate", "endDate"]
    rows = []
    for enrollment in sorted(diary.enrollments, key=_enrollment_id):
        klass = diary.classes[enrollment.class_id]
        row = _common(_enrollment_id(enrollment))
        row |= {"classSourcedId": klass.id, "schoolSourcedId": klass.school_id}
        row |= {"userSourcedId": enrollment.person_id, "role": enrollment.role.value}
        row |= {"primary": "true" if enrollment.primary else "false"}
        rows.append(row | {"beginDate": "", "endDate": ""})
    return header, rows


def _grade(grade: str) -> str:
    """OneRoster grades are two digits ("05"); anything else (``KG``) goes as is."""
    return grade.zfill(2) if grade.isdigit() else grade


def _enrollment_id(enrollment: Enrollment) -> str:
    return enrollment.id or f"enr-{enrollment.class_id}-{enrollment.person_id}"


def with_extras(diary: Diary, file: str, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    extras = diary.extensions.get(file, {})
    columns = sorted({column for row in extras.values() for column in row})
    for row in rows:
        found = extras.get(SourcedId(row["sourcedId"]), {})
        row.update({column: found.get(column, "") for column in columns})
    return header + columns, rows
