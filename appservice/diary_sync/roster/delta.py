"""Applying what an export says to the previous import (the base).

    base Diary ──records_from_diary──► RecordSet ─┐
    export files ──parse──► Changes per file ─────┴─merge──► RecordSet ──► Diary

Per file, the manifest decides: ``bulk`` replaces the base's rows of that kind,
``delta`` upserts ``active`` rows and removes ``tobedeleted`` ones, ``absent``
keeps the base's. Anything gone afterwards takes what hangs off it along:
enrollments of a removed class or person, classes of a removed school,
guardian links of a removed person.

Guardianships of the base are written back as the student's agents: a delta
row for a parent with a blank ``agentSourcedIds`` therefore keeps the parent's
children, while a delta row for a student lists its guardians in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import TypeVar

from appservice.diary_sync.model import Diary, Enrollment, SchoolClass
from appservice.diary_sync.roster.manifest import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    RELATIONSHIPS,
    USERS,
)
from appservice.diary_sync.roster.records import (
    Changes,
    ClassRecord,
    CourseRecord,
    EnrollmentRecord,
    Extras,
    LinkRecord,
    OrgRecord,
    RecordSet,
    Ref,
    UserRecord,
)
from kernel.ids import SourcedId

BASE = "<previous import>"
"""The file name problems about base rows carry (they only arise from a bad base)."""

_R = TypeVar("_R")


@dataclass
class Parsed:
    """One export's files as read; ``None`` where the manifest says absent."""

    orgs: Changes[OrgRecord] | None = None
    users: Changes[UserRecord] | None = None
    classes: Changes[ClassRecord] | None = None
    enrollments: Changes[EnrollmentRecord] | None = None
    courses: Changes[CourseRecord] | None = None
    extensions: dict[str, Changes[Extras]] = field(default_factory=dict)
    links: list[LinkRecord] = field(default_factory=list)


def merge(base: RecordSet, parsed: Parsed) -> RecordSet:
    """The base with the export applied (a bulk export ignores the base's rows)."""
    users = _apply(base.users, parsed.users)
    for user_id, user in users.items():
        previous = base.users.get(user_id)
        if user.role is None and previous is not None and user is not previous:
            users[user_id] = replace(user, role=previous.role, orgs=user.orgs + previous.orgs)
    merged = RecordSet(
        orgs=_apply(base.orgs, parsed.orgs),
        users=users,
        classes=_apply(base.classes, parsed.classes),
        enrollments=_apply(base.enrollments, parsed.enrollments),
        courses=_bulk_courses(parsed.courses),
        links=list(parsed.links),
        extensions={
            file: dict(_apply(base.extensions.get(file, {}), changes))
            for file, changes in parsed.extensions.items()
        },
        rejected=_rejected(parsed),
    )
    for file, rows in base.extensions.items():
        merged.extensions.setdefault(file, dict(rows))
    _cascade(base, merged)
    return merged


@dataclass(frozen=True)
class FileChanges:
    """What one delta file asks for, to show before anything is applied.

    Without the base at hand an ``active`` row may add or update: ``added`` and
    ``updated`` are then ``None`` and only ``active`` is known.
    """

    file: str
    active: int
    deleted: int
    added: int | None = None
    updated: int | None = None


def delta_changes(
    files: Sequence[str], parsed: Parsed, base: RecordSet | None
) -> tuple[FileChanges, ...]:
    """Per delta file (in ``files``' order), rows to upsert and rows to delete."""
    found: list[FileChanges] = []
    for file in files:
        if file == RELATIONSHIPS:
            removed = sum(link.removed for link in parsed.links)
            found.append(FileChanges(file, len(parsed.links) - removed, removed))
            continue
        ids = _ids_of(parsed, file)
        if ids is None:
            continue
        upserts, deletions = ids
        known = _known_in(base, file)
        added = None if known is None else len(upserts - known)
        updated = None if known is None else len(upserts & known)
        found.append(FileChanges(file, len(upserts), len(deletions), added, updated))
    return tuple(found)


_Ids = tuple[Set[SourcedId], Set[SourcedId]]


def _ids_of(parsed: Parsed, file: str) -> _Ids | None:
    """The ids a file upserts and deletes; ``None`` when it was not read."""
    kinds = {
        ORGS: _ids(parsed.orgs),
        USERS: _ids(parsed.users),
        CLASSES: _ids(parsed.classes),
        ENROLLMENTS: _ids(parsed.enrollments),
        COURSES: _ids(parsed.courses),
    }
    return kinds[file] if file in kinds else _ids(parsed.extensions.get(file))


def _ids(changes: Changes[_R] | None) -> _Ids | None:
    return None if changes is None else (changes.upserts.keys(), changes.deletions)


def _known_in(base: RecordSet | None, file: str) -> Set[SourcedId] | None:
    if base is None:
        return None
    kinds: dict[str, Mapping[SourcedId, object]] = {
        ORGS: base.orgs,
        USERS: base.users,
        CLASSES: base.classes,
        ENROLLMENTS: base.enrollments,
    }
    return kinds.get(file, base.extensions.get(file, {})).keys()


def _apply(base: Mapping[SourcedId, _R], changes: Changes[_R] | None) -> dict[SourcedId, _R]:
    if changes is None:
        return dict(base)
    if not changes.delta:
        return dict(changes.upserts)
    kept = {key: value for key, value in base.items() if key not in changes.deletions}
    return kept | changes.upserts


def _bulk_courses(
    courses: Changes[CourseRecord] | None,
) -> dict[SourcedId, CourseRecord] | None:
    """Course references are checked only against a full (bulk) courses file."""
    return None if courses is None or courses.delta else dict(courses.upserts)


def _rejected(parsed: Parsed) -> set[SourcedId]:
    found: set[SourcedId] = set()
    for changes in (parsed.orgs, parsed.users, parsed.classes, parsed.enrollments):
        if changes is not None:
            found |= changes.rejected
    for extras in parsed.extensions.values():
        found |= extras.rejected
    return found


def _cascade(base: RecordSet, merged: RecordSet) -> None:
    """Drop base rows that pointed at rows the merge removed.

    Only references carried over from the base are dropped: a row of this export
    naming a removed row is a mistake in the export, and is reported.
    """
    gone_orgs = base.orgs.keys() - merged.orgs.keys()
    gone_users = base.users.keys() - merged.users.keys()
    merged.classes = {
        key: klass for key, klass in merged.classes.items() if not _dangles(klass.school, gone_orgs)
    }
    gone_classes = base.classes.keys() - merged.classes.keys()
    merged.enrollments = {
        key: e
        for key, e in merged.enrollments.items()
        if not (_dangles(e.klass, gone_classes) or _dangles(e.person, gone_users))
    }
    for key, user in merged.users.items():
        orgs = tuple(ref for ref in user.orgs if not _dangles(ref, gone_orgs))
        agents = tuple(ref for ref in user.agents if not _dangles(ref, gone_users))
        if len(orgs) != len(user.orgs) or len(agents) != len(user.agents):
            merged.users[key] = replace(user, orgs=orgs, agents=agents)


def _dangles(ref: Ref, gone: Set[SourcedId]) -> bool:
    return ref.file == BASE and ref.target in gone


def records_from_diary(diary: Diary) -> RecordSet:
    """The base as records, so a delta merges into it like into a bulk export."""
    extensions = diary.extensions
    orgs = {
        SourcedId(key): OrgRecord(SourcedId(key), "", "other", extras)
        for key, extras in extensions.get(ORGS, {}).items()
    }
    for school in diary.schools.values():
        orgs[school.id] = OrgRecord(
            school.id, school.name, "school", extensions.get(ORGS, {}).get(school.id)
        )
    agents: dict[SourcedId, list[Ref]] = {}
    for link in sorted(diary.guardianships, key=lambda g: (g.student_id, g.parent_id)):
        agents.setdefault(link.student_id, []).append(_ref(link.parent_id, "agentSourcedIds"))
    return RecordSet(
        orgs=orgs,
        users={
            person.id: UserRecord(
                id=person.id,
                origin=_ref(person.id, "role"),
                role=person.role,
                given_name=person.given_name,
                family_name=person.family_name,
                middle_name=person.middle_name,
                username=person.username,
                phone=person.phone,
                email=person.email,
                orgs=tuple(_ref(org, "orgSourcedIds") for org in sorted(person.school_ids)),
                agents=tuple(agents.get(person.id, ())),
                extras=extensions.get(USERS, {}).get(person.id),
            )
            for person in diary.people.values()
        },
        classes={
            k.id: _class_record(k, extensions.get(CLASSES, {})) for k in diary.classes.values()
        },
        enrollments=_enrollment_records(diary.enrollments, extensions.get(ENROLLMENTS, {})),
        extensions={
            file: dict(rows)
            for file, rows in extensions.items()
            if file not in (ORGS, USERS, CLASSES, ENROLLMENTS)
        },
    )


def _ref(target: SourcedId, column: str) -> Ref:
    return Ref(target, BASE, 0, column)


def _class_record(klass: SchoolClass, extras: Mapping[SourcedId, Extras]) -> ClassRecord:
    return ClassRecord(
        id=klass.id,
        title=klass.title,
        school=_ref(klass.school_id, "schoolSourcedId"),
        kind=klass.kind,
        grade=klass.grade,
        subject=klass.subject,
        extras=extras.get(klass.id),
    )


def _enrollment_records(
    enrollments: frozenset[Enrollment], extras: Mapping[SourcedId, Extras]
) -> dict[SourcedId, EnrollmentRecord]:
    """Keyed by sourcedId; a Diary built by hand may lack ids, so one is made up."""
    records: dict[SourcedId, EnrollmentRecord] = {}
    for e in sorted(enrollments, key=lambda e: (e.class_id, e.person_id, e.role)):
        key = e.id or SourcedId(f"{e.class_id}/{e.person_id}/{e.role}")
        records[key] = EnrollmentRecord(
            id=key,
            klass=_ref(e.class_id, "classSourcedId"),
            person=_ref(e.person_id, "userSourcedId"),
            role=e.role,
            primary=e.primary,
            extras=extras.get(key),
        )
    return records
