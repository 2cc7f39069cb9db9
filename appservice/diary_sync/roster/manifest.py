"""``manifest.csv``: which files an export holds, and whether each is bulk or delta.

Only the files the diary needs are looked at; a manifest may list results,
line items or demographics, which are never opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from appservice.diary_sync.roster.csvfile import read_table
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.source import MANIFEST, SourceFiles

ORGS = "orgs.csv"
USERS = "users.csv"
CLASSES = "classes.csv"
ENROLLMENTS = "enrollments.csv"
COURSES = "courses.csv"
SESSIONS = "academicSessions.csv"
ROLES = "roles.csv"
RELATIONSHIPS = "relationships.csv"
"""SDS v2.1; not part of OneRoster, so read whenever present."""

_KNOWN = {name.lower(): name for name in (ORGS, USERS, CLASSES, ENROLLMENTS, COURSES, SESSIONS)}
_KNOWN |= {ROLES.lower(): ROLES, RELATIONSHIPS.lower(): RELATIONSHIPS}
_VERSIONS = frozenset({"1.0", "1.1", "1.2"})


class Mode(StrEnum):
    BULK = "bulk"
    DELTA = "delta"
    ABSENT = "absent"


@dataclass(frozen=True)
class Manifest:
    version: str
    """``"1.1"``, ``"1.2"``, or ``""`` when the manifest does not say."""
    modes: Mapping[str, Mode]
    lines: Mapping[str, int]
    """Where each file's entry is, to point at it in a problem."""

    def mode(self, file: str) -> Mode:
        return self.modes.get(file, Mode.ABSENT)

    @property
    def is_delta(self) -> bool:
        return Mode.DELTA in self.modes.values()


V10 = "1.0"
_V10_FILES = (ORGS, USERS, CLASSES, ENROLLMENTS, COURSES, SESSIONS)
"""OneRoster 1.0's CSV files (besides demographics); it had no roles.csv and no manifest."""


def read_manifest(files: SourceFiles) -> tuple[Manifest | None, list[Problem]]:
    data = files.get(MANIFEST)
    if data is None:
        return _version_one(files)
    table, problems = read_table(MANIFEST, data)
    if table is None:
        return None, problems
    missing = table.missing(("propertyName", "value"))
    if missing:
        return None, problems + missing
    version = ""
    modes: dict[str, Mode] = {}
    lines: dict[str, int] = {}
    for row in table.rows:
        name, value = row.get("propertyName").lower(), row.get("value").lower()
        if name == "oneroster.version":
            version = value
            if value not in _VERSIONS:
                problems.append(row.problem("value", f"unsupported OneRoster version {value!r}"))
        elif name.startswith("file.") and f"{name[5:]}.csv" in _KNOWN:
            mode = _MODES.get(value)
            if mode is None:
                problems.append(row.problem("value", f"expected bulk, delta or absent: {value!r}"))
            else:
                modes[_KNOWN[f"{name[5:]}.csv"]] = mode
                lines[_KNOWN[f"{name[5:]}.csv"]] = row.line
    return Manifest(version, modes, lines), problems


_MODES = {mode.value: mode for mode in Mode}


def _version_one(files: SourceFiles) -> tuple[Manifest | None, list[Problem]]:
    """No manifest: OneRoster 1.0, read as a whole (bulk) export, or nothing parta knows.

    1.0 had no way to say bulk or delta; a 1.0 export without orgs.csv and users.csv is
    either a delta or not a roster at all, and either way cannot stand alone.
    """
    missing = [file for file in (ORGS, USERS) if files.get(file) is None]
    if len(missing) == 2:
        reason = (
            "missing: a OneRoster 1.1 or 1.2 export has manifest.csv, a 1.0 export has orgs.csv"
            " and users.csv, an SDS v2.1 export orgs.csv, users.csv and roles.csv; this folder"
            " has neither — export the roster as OneRoster or SDS v2.1 CSV"
        )
        return None, [Problem(MANIFEST, 0, "", reason)]
    if missing:
        reason = (
            "missing: an export without manifest.csv is read as OneRoster 1.0, and parta reads"
            " 1.0 only as a whole export (orgs.csv and users.csv at least); export the whole"
            " school, or export OneRoster 1.1 or 1.2 with manifest.csv for a delta"
        )
        return None, [Problem(missing[0], 0, "", reason)]
    modes = {file: Mode.BULK for file in _V10_FILES if files.get(file) is not None}
    return Manifest(V10, modes, {}), []
