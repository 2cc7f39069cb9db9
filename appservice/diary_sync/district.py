"""A district in one export: the roster's schools shared out among homeservers (pure).

::

    roster (N schools) ──assign(claims)──▶ {server: its schools}
                       ──part(schools)───▶ a Diary of those schools alone

Each server's configuration names the schools it hosts (``district.schools``; empty: every
school). A part is a diary on its own: the schools, their classes and enrollments, the
people with a role in them (``school_ids`` narrowed to those schools), parents following
their children, and the guardianships between the people kept. A teacher of two schools
on two servers is in both parts, and gets an account on each server; so does a parent
with children in two schools.

A school that moves to another server leaves its people out of the old server's part, and
:func:`appservice.diary_sync.state.leavers` only counts people of the part's own schools:
they are nobody's leavers there, so their accounts on the old server are not switched off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TypeGuard

from appservice.diary_sync.model import Diary, Person, Role
from appservice.diary_sync.timetable import Timetable
from kernel.ids import SourcedId


class DistrictError(ValueError):
    """The configurations do not share out the roster's schools; nothing was changed."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Claim:
    """One server's claim: its name (for messages) and the schools its config lists."""

    server: str
    schools: frozenset[SourcedId]
    """Empty: every school of the roster (a school's own config, as before districts)."""


def assign(
    diary: Diary, claims: Iterable[Claim], complete: bool
) -> dict[str, frozenset[SourcedId]]:
    """Each server's schools. Refused (every problem at once): a school the roster lacks, a
    school two servers claim, a server named twice, and with ``complete`` (the whole district
    synced at once) a school of the roster no server claims."""
    problems: list[str] = []
    owner: dict[SourcedId, str] = {}
    out: dict[str, frozenset[SourcedId]] = {}
    present = frozenset(diary.schools)
    for claim in claims:
        if claim.server in out:
            problems.append(f"сервер {claim.server} назван дважды (the server is given twice)")
            continue
        for school in sorted(claim.schools - present):
            problems.append(
                f"{claim.server}: школы {school} нет в выгрузке (district.schools names a school "
                "the roster does not have)"
            )
        mine = claim.schools & present if claim.schools else present
        for school in sorted(mine):
            if school in owner:
                problems.append(
                    f"школу {_named(diary, school)} заявили два сервера: {owner[school]} и "
                    f"{claim.server} (a school is claimed by two servers)"
                )
            owner[school] = claim.server
        out[claim.server] = frozenset(mine)
    if complete:
        for school in sorted(present - owner.keys()):
            problems.append(
                f"школа {_named(diary, school)} не назначена ни одному серверу "
                "(no configuration's district.schools names it)"
            )
    if problems:
        raise DistrictError(problems)
    return out


def _named(diary: Diary, school: SourcedId) -> str:
    return f"«{diary.schools[school].name}» ({school})"


def part(diary: Diary, schools: frozenset[SourcedId]) -> Diary:
    """The diary of ``schools`` alone (see the module's description); linear in its size."""
    if schools >= diary.schools.keys():
        return diary
    classes = {cid: c for cid, c in diary.classes.items() if c.school_id in schools}
    enrolled = {e.person_id for e in diary.enrollments if e.class_id in classes}
    people: dict[SourcedId, Person] = {}
    for pid, person in diary.people.items():
        if person.school_ids & schools or pid in enrolled:
            people[pid] = _narrowed(person, schools)
    for g in sorted(diary.guardianships, key=lambda g: (g.parent_id, g.student_id)):
        parent = diary.people.get(g.parent_id)
        # parents follow their children; staff do not
        if g.student_id in people and g.parent_id not in people and _is_parent(parent):
            people[g.parent_id] = _narrowed(parent, schools)
    enrollments = frozenset(
        e for e in diary.enrollments if e.class_id in classes and e.person_id in people
    )
    guardianships = frozenset(
        g for g in diary.guardianships if g.parent_id in people and g.student_id in people
    )
    dropped = (
        (diary.schools.keys() - schools)
        | (diary.classes.keys() - classes.keys())
        | (diary.people.keys() - people.keys())
        | {e.id for e in diary.enrollments - enrollments if e.id}
    )
    extensions = {
        file: {sid: row for sid, row in rows.items() if sid not in dropped}
        for file, rows in diary.extensions.items()
    }
    return Diary(
        schools={s: x for s, x in diary.schools.items() if s in schools},
        classes=classes,
        people=people,
        enrollments=enrollments,
        guardianships=guardianships,
        extensions=extensions,
    )


def _is_parent(person: Person | None) -> TypeGuard[Person]:
    return person is not None and person.role is Role.PARENT


def _narrowed(person: Person, schools: frozenset[SourcedId]) -> Person:
    kept = person.school_ids & schools
    if kept == person.school_ids:
        return person
    return replace(person, school_ids=kept)


def part_timetable(timetable: Timetable, diary: Diary) -> Timetable:
    """The lessons of ``diary``'s classes (a part's)."""
    return Timetable(tuple(s for s in timetable.slots if s.class_id in diary.classes))


def split(diary: Diary, shares: Mapping[str, frozenset[SourcedId]]) -> dict[str, Diary]:
    """Each server's part, as :func:`assign` shared the schools out."""
    return {server: part(diary, schools) for server, schools in shares.items()}
