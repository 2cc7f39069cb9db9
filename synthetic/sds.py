"""Writing a Diary as a Microsoft School Data Sync (SDS) v2.1 CSV export.

The files SDS knows (no manifest): ``orgs.csv``, ``users.csv``, ``roles.csv``,
``academicSessions.csv``, ``classes.csv``, ``enrollments.csv``, ``relationships.csv``.
What SDS has no column for is written in parta's optional additions the reader
understands: ``middleName`` (users), ``classType``, ``grade``, ``subject`` (classes) and
``isPrimary`` (enrollments). SDS lists no parent role: a parent's roles.csv row says
``other``, and ``relationships.csv`` makes them a guardian. Enrollments have no id in
SDS; read back, theirs is ``classSourcedId/userSourcedId``.

Output is deterministic: rows sorted by id.
"""

from __future__ import annotations

from pathlib import Path

from appservice.diary_sync.model import Diary, Role
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    ENROLLMENTS,
    ORGS,
    RELATIONSHIPS,
    ROLES,
    SESSIONS,
    USERS,
)
from synthetic.oneroster import TERM, Rows, with_extras, write_csv

_ROLE_NAMES = {
    Role.STUDENT: "student",
    Role.PARENT: "other",
    Role.TEACHER: "teacher",
    Role.ADMINISTRATOR: "administrator",
}


def write_sds21(diary: Diary, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / SESSIONS, *_sessions())
    write_csv(out / ORGS, *_orgs(diary))
    write_csv(out / USERS, *with_extras(diary, USERS, *_users(diary)))
    write_csv(out / ROLES, *_roles(diary))
    write_csv(out / CLASSES, *with_extras(diary, CLASSES, *_classes(diary)))
    write_csv(out / ENROLLMENTS, *_enrollments(diary))
    write_csv(out / RELATIONSHIPS, *_relationships(diary))


def _sessions() -> tuple[list[str], Rows]:
    header = ["sourcedId", "title", "type", "schoolYear", "startDate", "endDate"]
    row = {"sourcedId": TERM, "title": "2025/2026 учебный год", "type": "schoolYear"}
    return header, [
        row | {"schoolYear": "2026", "startDate": "2025-09-01", "endDate": "2026-05-31"}
    ]


def _orgs(diary: Diary) -> tuple[list[str], Rows]:
    header = ["sourcedId", "name", "type", "parentSourcedId"]
    rows = [
        {"sourcedId": s.id, "name": s.name, "type": "school", "parentSourcedId": ""}
        for s in sorted(diary.schools.values(), key=lambda s: s.id)
    ]
    return header, rows


def _users(diary: Diary) -> tuple[list[str], Rows]:
    header = ["sourcedId", "username", "givenName", "familyName", "middleName", "email", "phone"]
    rows = [
        {
            "sourcedId": person.id,
            "username": person.username,
            "givenName": person.given_name,
            "familyName": person.family_name,
            "middleName": person.middle_name,
            "email": person.email,
            "phone": person.phone,
        }
        for person in sorted(diary.people.values(), key=lambda p: p.id)
    ]
    return header, rows


def _roles(diary: Diary) -> tuple[list[str], Rows]:
    """One row per person and school; a person of no school (a parent) has a guardian's
    place in relationships.csv instead."""
    header = ["userSourcedId", "orgSourcedId", "role", "sessionSourcedId", "isPrimary"]
    rows = []
    for person in sorted(diary.people.values(), key=lambda p: p.id):
        for index, school in enumerate(sorted(person.school_ids)):
            row: dict[str, str] = {"userSourcedId": person.id, "orgSourcedId": school}
            row |= {"role": _ROLE_NAMES[person.role], "sessionSourcedId": TERM}
            rows.append(row | {"isPrimary": "true" if index == 0 else "false"})
    return header, rows


def _classes(diary: Diary) -> tuple[list[str], Rows]:
    header = ["sourcedId", "orgSourcedId", "title", "sessionSourcedIds", "classType", "grade"]
    header.append("subject")
    rows = []
    for klass in sorted(diary.classes.values(), key=lambda k: k.id):
        row = {"sourcedId": klass.id, "orgSourcedId": klass.school_id, "title": klass.title}
        row |= {"sessionSourcedIds": TERM, "classType": klass.kind.value, "grade": klass.grade}
        rows.append(row | {"subject": klass.subject})
    return header, rows


def _enrollments(diary: Diary) -> tuple[list[str], Rows]:
    header = ["classSourcedId", "userSourcedId", "role", "isPrimary"]
    rows = [
        {
            "classSourcedId": e.class_id,
            "userSourcedId": e.person_id,
            "role": e.role.value,
            "isPrimary": "true" if e.primary else "false",
        }
        for e in sorted(diary.enrollments, key=lambda e: (e.class_id, e.person_id))
    ]
    return header, rows


def _relationships(diary: Diary) -> tuple[list[str], Rows]:
    header = ["userSourcedId", "relationshipUserSourcedId", "relationshipRole"]
    rows = [
        {
            "userSourcedId": link.student_id,
            "relationshipUserSourcedId": link.parent_id,
            "relationshipRole": "parent",
        }
        for link in sorted(diary.guardianships, key=lambda g: (g.student_id, g.parent_id))
    ]
    return header, rows
