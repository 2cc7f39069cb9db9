"""Microsoft School Data Sync ``relationships.csv``: guardians of students.

SDS v2.1 names the columns ``userSourcedId`` (the student),
``relationshipUserSourcedId`` (the contact) and ``relationshipRole``. Some
exports instead write ``User Sourced ID`` (the contact) next to
``Student Sourced ID``; both spellings are read, case and spaces ignored.
"""

from __future__ import annotations

from appservice.diary_sync.roster import fields
from appservice.diary_sync.roster.csvfile import Table
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.fields import Status
from appservice.diary_sync.roster.oneroster import required_ref
from appservice.diary_sync.roster.records import LinkRecord

_GUARDIAN_ROLES = frozenset({"parent", "guardian", "relative"})
_OTHER_ROLES = frozenset({"other", "doctor", "aide", "emergencycontact"})
"""Contacts SDS knows that are not guardians: read, then left out of the diary."""


def read_relationships(table: Table, delta: bool, problems: list[Problem]) -> list[LinkRecord]:
    columns = relationship_columns(table)
    if columns is None:
        problems.extend(table.missing(("userSourcedId", "relationshipUserSourcedId")))
        return []
    missing = table.missing(columns)
    if missing:
        problems.extend(missing)
        return []
    student_column, guardian_column, role_column = columns
    links: list[LinkRecord] = []
    for row in table.rows:
        before = len(problems)
        student = required_ref(row, student_column, problems)
        guardian = required_ref(row, guardian_column, problems)
        role = (fields.read_required(row, role_column, problems) or "").lower()
        status = fields.read_status(row, delta and table.has("status"), problems)
        if role and role not in _GUARDIAN_ROLES | _OTHER_ROLES:
            problems.append(row.problem(role_column, f"unknown relationship role {role!r}"))
        if len(problems) > before or role in _OTHER_ROLES or student is None or guardian is None:
            continue
        links.append(LinkRecord(guardian, student, removed=status is Status.DELETED))
    return links


def relationship_columns(table: Table) -> tuple[str, str, str] | None:
    """(student, guardian, role) column names, by which spelling the file uses."""
    if table.has("studentSourcedId"):
        guardian = next(
            (c for c in ("guardianSourcedId", "userSourcedId") if table.has(c)),
            "relationshipUserSourcedId",
        )
        return "studentSourcedId", guardian, "relationshipRole"
    if table.has("userSourcedId") and table.has("relationshipUserSourcedId"):
        return "userSourcedId", "relationshipUserSourcedId", "relationshipRole"
    return None
