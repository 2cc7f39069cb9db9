"""``check_roster`` and ``load_roster``: a OneRoster or SDS v2.1 export (folder or zip) to a Diary.

(parta's spreadsheet, an ``.xlsx`` file, is read by :mod:`workbook` instead: always whole.)

    read_source ─► read_manifest ─► parse each listed file ─► merge onto base
       (no manifest: OneRoster 1.0, bulk)               ─► fold roles ─► build_diary
       (no manifest, SDS v2.1 headers: sds_reader, always whole) ─┘

Problems from every stage are collected; cross-checking is skipped only when a
whole file could not be used, since every reference into it would dangle.

A delta checked with no base at hand (``check_roster`` without ``base``) is read
as far as it goes alone: every row and every reference between its own rows,
then summarised as changes per file; only applying it needs the previous import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from appservice.diary_sync.model import Diary
from appservice.diary_sync.roster import oneroster
from appservice.diary_sync.roster.crosscheck import build_diary, fold_roles
from appservice.diary_sync.roster.csvfile import Table, read_table
from appservice.diary_sync.roster.delta import (
    FileChanges,
    Parsed,
    delta_changes,
    merge,
    records_from_diary,
)
from appservice.diary_sync.roster.errors import Problem, RosterError
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    RELATIONSHIPS,
    ROLES,
    SESSIONS,
    USERS,
    V10,
    Manifest,
    Mode,
    read_manifest,
)
from appservice.diary_sync.roster.records import (
    Changes,
    CourseRecord,
    Extras,
    LinkRecord,
    RecordSet,
    RoleRecord,
)
from appservice.diary_sync.roster.sds import read_relationships
from appservice.diary_sync.roster.sds_detect import VERSION as SDS_VERSION
from appservice.diary_sync.roster.sds_detect import detect as detect_sds
from appservice.diary_sync.roster.sds_reader import SdsReader
from appservice.diary_sync.roster.source import MANIFEST, SourceFiles, read_source
from appservice.diary_sync.roster.workbook import is_workbook, read_workbook
from kernel.ids import SourcedId

_R = TypeVar("_R")
_ParseFile = Callable[[Table, bool, list[Problem]], Changes[_R]]


@dataclass(frozen=True)
class Roster:
    """A checked export: the diary it makes, or for a delta alone what it would change."""

    diary: Diary | None
    """``None`` only for a delta checked without the import it applies to."""
    version: str
    """``"1.0"``, ``"1.1"``, ``"1.2"``, or ``""`` when the manifest does not say; SDS: ``"2.1"``."""
    changes: tuple[FileChanges, ...]
    """Per delta file; empty for a bulk export."""
    warnings: tuple[Problem, ...]
    spreadsheet: bool = False
    """parta's own workbook (``.xlsx``), not OneRoster."""
    sds: bool = False
    """Microsoft School Data Sync v2.1 CSV (``version`` ``"2.1"``), not OneRoster."""

    @property
    def is_delta(self) -> bool:
        return bool(self.changes)


def load_roster(
    source: Path, base: Diary | None = None, warnings: list[Problem] | None = None
) -> Diary:
    """The roster in ``source``; with ``base``, delta files are applied to it.

    Raises :class:`RosterError` with all problems found; never returns part of a roster.
    Warnings do not refuse it; they are added to ``warnings`` when it is given.
    """
    diary, roster = _read(source, base, alone=False)
    if warnings is not None:
        warnings.extend(roster.warnings)
    return diary


def check_roster(source: Path, base: Diary | None = None) -> Roster:
    """Like :func:`load_roster`, but a delta needs no base, and warnings are returned."""
    return _read(source, base, alone=True)[1]


def _read(source: Path, base: Diary | None, *, alone: bool) -> tuple[Diary, Roster]:
    """The diary built and the roster as checked (whose diary is none for a partial one)."""
    if is_workbook(source.name) and source.is_file():
        workbook = read_workbook(source.name, source.read_bytes())
        return workbook.diary, Roster(workbook.diary, "", (), workbook.warnings, spreadsheet=True)
    files, problems = read_source(source)
    if problems:
        raise RosterError(problems)
    if files.get(MANIFEST) is None:
        is_sds, problems = detect_sds(files)
        if problems:
            raise RosterError(problems)
        if is_sds:
            return _read_sds(files)
    manifest, problems = read_manifest(files)
    if manifest is None:
        raise RosterError(problems)
    partial = alone and base is None and manifest.is_delta
    reader = _ExportReader(files, manifest, base is not None or partial, problems)
    parsed, roles = reader.parse()
    if not reader.usable:
        raise RosterError(problems)
    base_records = records_from_diary(base) if base else RecordSet()
    records = merge(base_records, parsed)
    records.partial = partial
    records.deleted = _deleted(parsed) if partial else set()
    warnings: list[Problem] = []
    fold_roles(records, roles, problems)
    diary = build_diary(records, problems, warnings)
    if problems:
        raise RosterError(problems, warnings)
    delta_files = [file for file, mode in manifest.modes.items() if mode is Mode.DELTA]
    if manifest.is_delta and parsed.links and RELATIONSHIPS not in delta_files:
        delta_files.append(RELATIONSHIPS)
    changes = delta_changes(delta_files, parsed, base_records if base else None)
    roster = Roster(None if partial else diary, manifest.version, changes, tuple(warnings))
    return diary, roster


def _read_sds(files: SourceFiles) -> tuple[Diary, Roster]:
    """SDS v2.1: always whole, so a previous import (a base) plays no part."""
    problems: list[Problem] = []
    reader = SdsReader(files, problems)
    export = reader.parse()
    if not reader.usable:
        raise RosterError(problems)
    records = merge(RecordSet(), export.parsed)
    fold_roles(records, export.roles, problems)
    warnings = export.warnings
    diary = build_diary(records, problems, warnings)
    if problems:
        raise RosterError(problems, warnings)
    return diary, Roster(diary, SDS_VERSION, (), tuple(warnings), sds=True)


def _deleted(parsed: Parsed) -> set[SourcedId]:
    found: set[SourcedId] = set()
    for changes in (parsed.orgs, parsed.users, parsed.classes, parsed.enrollments):
        if changes is not None:
            found |= changes.deletions
    return found


class _ExportReader:
    """Reads the files the manifest lists, noting whether each could be used at all."""

    def __init__(
        self, files: SourceFiles, manifest: Manifest, has_base: bool, problems: list[Problem]
    ) -> None:
        self.files, self.manifest, self.has_base = files, manifest, has_base
        self.problems = problems
        self.usable = True

    def parse(self) -> tuple[Parsed, list[RoleRecord]]:
        self._check_modes()
        parsed = Parsed(
            orgs=self._read(ORGS, oneroster.read_orgs),
            users=self._read(USERS, oneroster.read_users),
            classes=self._read(CLASSES, oneroster.read_classes),
            enrollments=self._read(ENROLLMENTS, oneroster.read_enrollments),
            courses=self._read(COURSES, oneroster.read_courses),
        )
        if parsed.courses is not None:
            parsed.extensions[COURSES] = _extras_of(parsed.courses)
        sessions = self._read(SESSIONS, oneroster.read_sessions)
        if sessions is not None:
            parsed.extensions[SESSIONS] = sessions
        roles = self._roles(parsed)
        parsed.links = self._relationships()
        return parsed, roles

    def _check_modes(self) -> None:
        if self.manifest.is_delta and not self.has_base:
            first = min(
                line
                for file, line in self.manifest.lines.items()
                if self.manifest.mode(file) is Mode.DELTA
            )
            reason = (
                "a delta export: it applies to the previous import, and there is none"
                " — sync a whole (bulk) export first"
            )
            self._fail(MANIFEST, first, "value", reason)
            return
        for file in (ORGS, USERS):
            if self.manifest.mode(file) is Mode.ABSENT and not self.has_base:
                line = self.manifest.lines.get(file, 0)
                self._fail(MANIFEST, line, "value" if line else "", f"{file} is required")

    def _fail(self, file: str, line: int, column: str, reason: str) -> None:
        self.problems.append(Problem(file, line, column, reason))
        self.usable = False

    def _table(self, file: str, required: tuple[str, ...]) -> Table | None:
        mode = self.manifest.mode(file)
        if mode is Mode.ABSENT:
            return None
        table = self._table_of(file, mode, self.files.get(file))
        missing = [] if table is None else table.missing(required)
        self.problems.extend(missing)
        if missing:
            self.usable = False
            return None
        return table

    def _table_of(self, file: str, mode: Mode, data: bytes | None) -> Table | None:
        if data is None:
            self._fail(file, 0, "", f"{MANIFEST} says {mode}, but the export has no such file")
            return None
        table, found = read_table(file, data)
        self.problems.extend(found)
        if table is None:
            self.usable = False
        elif self.manifest.version == V10:
            table = table.renamed(oneroster.V10_ALIASES)
        return table

    def _required(self, file: str) -> tuple[str, ...]:
        delta = oneroster.DELTA_COLUMNS if self.manifest.mode(file) is Mode.DELTA else ()
        return oneroster.REQUIRED_COLUMNS[file] + delta

    def _read(self, file: str, read: _ParseFile[_R]) -> Changes[_R] | None:
        table = self._table(file, self._required(file))
        if table is None:
            return None
        delta = self.manifest.mode(file) is Mode.DELTA
        needs_role = file == USERS and not delta and self.manifest.mode(ROLES) is Mode.ABSENT
        if needs_role and not (table.has("role") or table.has("roles")):
            self._fail(file, 1, "role", "missing required column (no roles.csv either)")
            return None
        return read(table, delta, self.problems)

    def _roles(self, parsed: Parsed) -> list[RoleRecord]:
        table = self._table(ROLES, self._required(ROLES))
        if table is None:
            return []
        roles, extras = oneroster.read_roles(table, self._is_delta(ROLES), self.problems)
        parsed.extensions[ROLES] = extras
        return roles

    def _is_delta(self, file: str) -> bool:
        return self.manifest.mode(file) is Mode.DELTA

    def _relationships(self) -> list[LinkRecord]:
        """SDS's file is read when present, unless the manifest says it is absent."""
        mode = self.manifest.modes.get(RELATIONSHIPS)
        data = self.files.get(RELATIONSHIPS)
        if mode is Mode.ABSENT or (mode is None and data is None):
            return []
        if mode is None:
            mode = Mode.DELTA if self.manifest.is_delta else Mode.BULK
        table = self._table_of(RELATIONSHIPS, mode, data)
        if table is None:
            return []
        return read_relationships(table, mode is Mode.DELTA, self.problems)


def _extras_of(courses: Changes[CourseRecord]) -> Changes[Extras]:
    upserts = {key: course.extras or {} for key, course in courses.upserts.items()}
    return Changes(courses.delta, upserts, courses.deletions, courses.rejected)
