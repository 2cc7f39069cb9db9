"""A whole Microsoft School Data Sync (SDS) v2.1 CSV export, file by file, into records.

    orgs.csv, users.csv, roles.csv (required) ─┐
    classes.csv + enrollments.csv (optional)  ─┼─► Parsed + roles ─► (loader) fold_roles ─► Diary
    academicSessions.csv, relationships.csv   ─┘

SDS is always whole (bulk): there is no manifest and no delta, so an SDS export stands
alone even where a previous import exists. ``courses.csv`` gives a subject group with no
subject of its own its course's title; ``demographics.csv`` and ``userFlags.csv`` are not
read (the diary keeps no birth dates, nor flags). A user's role comes from roles.csv;
a user with none there who is a guardian in relationships.csv (SDS lists no parent
role) is a parent, and so is one whose only role is ``other``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from appservice.diary_sync.model import Role
from appservice.diary_sync.roster import sds_rows
from appservice.diary_sync.roster.csvfile import Table, read_table
from appservice.diary_sync.roster.delta import Parsed
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    RELATIONSHIPS,
    ROLES,
    SESSIONS,
    USERS,
)
from appservice.diary_sync.roster.oneroster import Builder, collect, refs
from appservice.diary_sync.roster.records import (
    Changes,
    Extras,
    LinkRecord,
    Ref,
    RoleRecord,
    UserRecord,
)
from appservice.diary_sync.roster.sds import read_relationships, relationship_columns
from appservice.diary_sync.roster.source import SourceFiles
from kernel.ids import SourcedId

_R = TypeVar("_R")
_REQUIRED_FILES = (ORGS, USERS, ROLES)


@dataclass
class SdsExport:
    parsed: Parsed
    roles: list[RoleRecord]
    warnings: list[Problem] = field(default_factory=list)


class SdsReader:
    """Reads the files, noting whether each could be used at all (else cross-checks are moot)."""

    def __init__(self, files: SourceFiles, problems: list[Problem]) -> None:
        self.files, self.problems = files, problems
        self.usable = True
        self.named_guardians: set[SourcedId] = set()

    def parse(self) -> SdsExport:
        self._check_files()
        users = self._read(USERS, sds_rows.read_user)
        parsed = Parsed(orgs=self._read(ORGS, sds_rows.read_org), users=users)
        export = SdsExport(parsed, [])
        classes = self._table(CLASSES)
        named_sessions: list[Ref] = []
        if classes is not None:
            parsed.classes = collect(classes, False, self.problems, sds_rows.read_class)
            named_sessions += [r for row in classes.rows for r in refs(row, "sessionSourcedIds")]
        enrollments = self._table(ENROLLMENTS)
        if enrollments is not None:
            parsed.enrollments = sds_rows.read_enrollments(enrollments, self.problems)
        parsed.courses = self._read(COURSES, sds_rows.read_course)
        sessions = self._read(SESSIONS, sds_rows.read_session)
        if sessions is not None:
            parsed.extensions[SESSIONS] = sessions
        parsed.links = self._relationships()
        roles = self._table(ROLES)
        if roles is not None and users is not None:
            found = sds_rows.read_roles(roles, self.problems)
            users.rejected |= found.refused & set(users.upserts)
            export.roles = found.roles
            if self.usable:  # else who has no role is moot: the export is refused already
                export.roles = self._with_guardians(found, users, parsed.links)
            named_sessions += found.sessions
        self._check_sessions(sessions, named_sessions)
        if parsed.classes is not None and parsed.enrollments is not None:
            sds_rows.class_teachers(parsed.classes, parsed.enrollments, export.warnings)
        return export

    def _check_files(self) -> None:
        for file in _REQUIRED_FILES:
            if self.files.get(file) is None:
                reason = (
                    "missing: an SDS v2.1 export has orgs.csv, users.csv and roles.csv"
                    " (roles.csv gives every user a role)"
                )
                self._fail(file, 0, "", reason)
        if self.files.get(ENROLLMENTS) is not None and self.files.get(CLASSES) is None:
            self._fail(ENROLLMENTS, 0, "", "classes.csv is missing: enrollments.csv needs it")

    def _fail(self, file: str, line: int, column: str, reason: str) -> None:
        self.problems.append(Problem(file, line, column, reason))
        self.usable = False

    def _table(self, file: str) -> Table | None:
        data = self.files.get(file)
        if data is None:
            return None
        table, found = read_table(file, data)
        self.problems.extend(found)
        missing = [] if table is None else table.missing(sds_rows.REQUIRED_COLUMNS[file])
        self.problems.extend(missing)
        if table is None or missing:
            self.usable = False
            return None
        return table

    def _read(self, file: str, build: Builder[_R]) -> Changes[_R] | None:
        table = self._table(file)
        return None if table is None else collect(table, False, self.problems, build)

    def _relationships(self) -> list[LinkRecord]:
        data = self.files.get(RELATIONSHIPS)
        if data is None:
            return []
        table, found = read_table(RELATIONSHIPS, data)
        self.problems.extend(found)
        if table is None:
            self.usable = False
            return []
        before = len(self.problems)
        links = read_relationships(table, False, self.problems)
        if any(p.reason == "missing required column" for p in self.problems[before:]):
            self.usable = False  # every guardian would be reported again as having no role
        columns = relationship_columns(table)
        if columns is not None:  # a refused row's guardian is not reported again as roleless
            self.named_guardians = {SourcedId(row.get(columns[1])) for row in table.rows}
        return links

    def _with_guardians(
        self, roles: sds_rows.RolesFile, users: Changes[UserRecord], links: list[LinkRecord]
    ) -> list[RoleRecord]:
        """The roles, plus a parent's for each guardian that roles.csv gives no usable role;
        a user with no role at all, and no guardian either, is refused at its row."""
        guardians = {link.guardian.target for link in links}
        placed = {role.user.target for role in roles.roles}
        found = list(roles.roles)
        for contact in roles.contacts:
            target = contact.user.target
            if target in placed:
                continue
            if target in guardians or target not in users.upserts:  # unknown: fold_roles says so
                found.append(RoleRecord(contact.user, Role.PARENT, False, contact.org))
                placed.add(target)
            else:
                reason = (
                    f"role {contact.role!r} is read as a parent's only for a guardian in"
                    f" relationships.csv, and {target!r} is none"
                )
                self.problems.append(contact.cell.problem(reason))
                users.rejected.add(target)
        for user in users.upserts.values():
            if user.id in placed or user.id in users.rejected:
                continue
            if user.id in guardians:
                found.append(RoleRecord(user.origin, Role.PARENT, False, None))
            elif user.id in self.named_guardians:
                users.rejected.add(user.id)
            else:
                reason = "no role in roles.csv, and no guardian in relationships.csv either"
                self.problems.append(user.origin.problem(reason))
                users.rejected.add(user.id)
        return found

    def _check_sessions(self, sessions: Changes[Extras] | None, named: list[Ref]) -> None:
        """With academicSessions.csv, every session a class or role names must be in it."""
        if sessions is None:
            return
        known: set[SourcedId] = set(sessions.upserts) | sessions.rejected
        for ref in named:
            if ref.target not in known:
                self.problems.append(ref.problem(f"unknown academic session {ref.target!r}"))
