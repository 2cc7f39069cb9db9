"""Telling a Microsoft School Data Sync (SDS) v2.1 export from OneRoster 1.0 by its headers.

Neither has ``manifest.csv``, and both name their files ``orgs.csv``, ``users.csv``,
``classes.csv``, ``enrollments.csv``; the columns differ::

    file              OneRoster 1.0 (and 1.1/1.2)            SDS v2.1
    users.csv         role, orgSourcedIds, enabledUser       none of them (roles.csv has the role)
    classes.csv       schoolSourcedId                        orgSourcedId
    enrollments.csv   sourcedId                              no id: classSourcedId + userSourcedId
    roles.csv         sourcedId, roleType (1.2)              userSourcedId, orgSourcedId, no id

Each file votes by its header; ``orgs.csv`` looks the same in both and does not vote.
An export is SDS when some file votes SDS and none votes OneRoster; files that disagree
are refused (saying which is which) rather than half-read as either.
"""

from __future__ import annotations

from enum import StrEnum

from appservice.diary_sync.roster.csvfile import Table, decode, read_table
from appservice.diary_sync.roster.errors import Problem
from appservice.diary_sync.roster.manifest import CLASSES, ENROLLMENTS, ROLES, USERS
from appservice.diary_sync.roster.source import MANIFEST, SourceFiles

VERSION = "2.1"

_ONEROSTER_SIGNS = {
    USERS: ("role", "roles", "orgSourcedIds", "enabledUser"),
    CLASSES: ("schoolSourcedId",),
    ENROLLMENTS: ("sourcedId",),
    ROLES: ("sourcedId", "roleType"),
}
"""Columns only OneRoster has (not ``classType``: parta reads it in SDS too, as an addition)."""
_SDS_SIGNS = {
    USERS: ("sourcedId", "username"),
    CLASSES: ("orgSourcedId",),
    ENROLLMENTS: ("classSourcedId", "userSourcedId"),
    ROLES: ("userSourcedId", "orgSourcedId"),
}
"""Columns SDS requires: a file votes SDS with all of them and none of OneRoster's."""


class Vote(StrEnum):
    ONEROSTER = "OneRoster"
    SDS = "SDS v2.1"


def detect(files: SourceFiles) -> tuple[bool, list[Problem]]:
    """Whether an export without manifest.csv is SDS v2.1; a problem when files disagree."""
    votes = {file: vote for file in _SDS_SIGNS if (vote := _vote(file, files)) is not None}
    sds = [file for file, vote in votes.items() if vote is Vote.SDS]
    oneroster = [file for file, vote in votes.items() if vote is Vote.ONEROSTER]
    if not sds:
        return False, []
    if not oneroster:
        return True, []
    if ROLES in oneroster:
        reason = (
            "missing: roles.csv has the columns of OneRoster 1.2"
            f" ({_signs(ROLES, files).removeprefix('roles.csv has ')}), and a 1.2 export has"
            " manifest.csv — export it again with its manifest"
        )
        return False, [Problem(MANIFEST, 0, "", reason)]
    verb = "has" if len(sds) == 1 else "have"
    reason = (
        f"no manifest.csv, and the files disagree: {', '.join(sds)} {verb} the columns of"
        f" SDS v2.1, {', '.join(oneroster)} those of OneRoster"
        f" ({_signs(oneroster[0], files)}) — export the whole roster again in one format"
    )
    return False, [Problem(sds[0], 1, "", reason)]


def _vote(file: str, files: SourceFiles) -> Vote | None:
    table = _header(file, files)
    if table is None:
        return None
    if any(table.has(column) for column in _ONEROSTER_SIGNS[file]):
        return Vote.ONEROSTER
    if all(table.has(column) for column in _SDS_SIGNS[file]):
        return Vote.SDS
    return None


def _signs(file: str, files: SourceFiles) -> str:
    table = _header(file, files)
    found = [c for c in _ONEROSTER_SIGNS[file] if table is not None and table.has(c)]
    return f"{file} has {', '.join(found)}"


def _header(file: str, files: SourceFiles) -> Table | None:
    data = files.get(file)
    if data is None:
        return None
    text = decode(data)
    if text is None:
        return None
    return read_table(file, text.split("\n", 1)[0].encode("utf-8"))[0]
