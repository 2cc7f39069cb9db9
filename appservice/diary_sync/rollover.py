"""The new school year (pure): which of this year's classes carries on which of last year's.

::

    last diary ──┐                              5А (2025) ──▶ 6А (2026): the same room,
                 ├─ successions ─▶ {new: old} ──▶ renamed, history kept (its parents' too)
    this diary ──┘                              11А (2025) ──▶ nobody: archived, read-only

A homeroom of this diary that the last one did not have succeeds the last year's homeroom
of the same school that is gone now and shares the most of its pupils, when at least half
of that class's pupils who are still at school are in it. Each old class has one successor
at most; a class split in two carries on in the larger part (ties: the first by id).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from appservice.diary_sync.layout import (
    Levels,
    RoomKey,
    RoomKind,
    RoomSpec,
    SchoolLayout,
    layout_diary,
    room_key,
)
from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from appservice.diary_sync.names import RU, RoomNames
from appservice.diary_sync.state import Actual
from kernel.ids import SourcedId

READ_ONLY = 100
"""An archived room's ``events_default``: nobody but the school's bot may write."""

FOLLOWING = (RoomKind.CLASS, RoomKind.CLASS_PARENTS)
"""The rooms a homeroom owns: they move with it to its successor."""


def _pupils(diary: Diary) -> dict[SourcedId, set[SourcedId]]:
    pupils: dict[SourcedId, set[SourcedId]] = defaultdict(set)
    for e in diary.enrollments:
        klass = diary.classes.get(e.class_id)
        student = e.role is EnrollmentRole.STUDENT
        if student and klass is not None and klass.kind is ClassKind.HOMEROOM:
            pupils[e.class_id].add(e.person_id)
    return pupils


def successions(before: Diary | None, after: Diary) -> dict[SourcedId, SourcedId]:
    """This year's homeroom → the last year's homeroom it carries on."""
    if before is None:
        return {}
    old_pupils, new_pupils = _pupils(before), _pupils(after)
    gone = {
        c.id: c
        for c in before.classes.values()
        if c.kind is ClassKind.HOMEROOM and c.id not in after.classes
    }
    fresh = {
        c.id: c
        for c in after.classes.values()
        if c.kind is ClassKind.HOMEROOM and c.id not in before.classes
    }
    candidates = []
    for old_id, old in gone.items():
        staying = old_pupils.get(old_id, set()) & after.people.keys()
        for new_id, new in fresh.items():
            if new.school_id != old.school_id:
                continue
            shared = len(staying & new_pupils.get(new_id, set()))
            if shared and 2 * shared >= len(staying):
                candidates.append((-shared, old_id, new_id))
    chosen: dict[SourcedId, SourcedId] = {}
    taken: set[SourcedId] = set()
    for _shared, old_id, new_id in sorted(candidates):
        if old_id not in taken and new_id not in chosen:
            chosen[new_id] = old_id
            taken.add(old_id)
    return chosen


def room_moves(
    before: Diary | None, after: Diary, moves: Mapping[SourcedId, SourcedId]
) -> dict[RoomKey, RoomKey]:
    """The rooms that move: this year's room key → last year's."""
    if before is None:
        return {}
    out: dict[RoomKey, RoomKey] = {}
    for new_id, old_id in moves.items():
        school = after.classes[new_id].school_id
        for kind in FOLLOWING:
            out[room_key(school, kind, new_id)] = room_key(school, kind, old_id)
    return out


def graduated(
    before: Diary | None, after: Diary, moves: Mapping[SourcedId, SourcedId]
) -> set[SourcedId]:
    """Last year's homerooms that are gone with no successor (the 11th grades)."""
    if before is None:
        return set()
    carried = set(moves.values())
    return {
        c.id
        for c in before.classes.values()
        if c.kind is ClassKind.HOMEROOM
        and c.id not in after.classes
        and c.id not in carried
        and c.school_id in after.schools
    }


def archived_rooms(
    before: Diary | None, after: Diary, gone: set[SourcedId], names: RoomNames
) -> dict[RoomKey, ArchivedRoom]:
    """The rooms of classes that left (graduated): kept, read-only, for the school's period."""
    if before is None or not gone:  # most syncs: no need to lay last year's diary out again
        return {}
    out: dict[RoomKey, ArchivedRoom] = {}
    for layout in layout_diary(before, names):
        for spec in layout.rooms:
            for class_id in gone:
                if spec.key in (room_key(layout.school_id, k, class_id) for k in FOLLOWING):
                    out[spec.key] = ArchivedRoom(
                        spec.key,
                        spec.kind,
                        names.archived.format(name=spec.name),
                        names.archived_topic.format(topic=spec.topic),
                        layout.school_id,
                    )
    return out


@dataclass(frozen=True)
class ArchivedRoom:
    """What the sync keeps of a graduated class's room (stored: the diary forgets it)."""

    key: RoomKey
    kind: RoomKind
    name: str
    topic: str
    school_id: SourcedId

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "topic": self.topic,
            "school": self.school_id,
        }

    @classmethod
    def from_json(cls, key: str, body: Mapping[str, str]) -> ArchivedRoom:
        return cls(
            RoomKey(key),
            RoomKind(body["kind"]),
            body["name"],
            body["topic"],
            SourcedId(body["school"]),
        )


def with_archive(
    layouts: tuple[SchoolLayout, ...],
    archive: Mapping[RoomKey, ArchivedRoom],
    names: RoomNames = RU,
) -> tuple[SchoolLayout, ...]:
    """Each school's layout with its archive: a space «Архив» of the graduated classes'
    chats, for the administration alone, read-only."""
    out = []
    for layout in layouts:
        admins = {
            p: Levels.ADMINISTRATION
            for p, x in layout.people.items()
            if x.role is Role.ADMINISTRATOR
        }
        present = {r.key for r in layout.rooms}
        space = room_key(layout.school_id, RoomKind.ARCHIVE)
        kept = tuple(
            RoomSpec(
                room.key,
                room.kind,
                room.name,
                room.topic,
                frozenset(admins),
                tuple(sorted(admins.items())),
                space,
                events_default=READ_ONLY,
                archived=True,
            )
            for room in sorted(archive.values(), key=lambda r: r.key)
            if room.school_id == layout.school_id and room.key not in present
        )
        if not kept:
            out.append(layout)
            continue
        shelf = RoomSpec(
            space,
            RoomKind.ARCHIVE,
            names.archive_space,
            names.archive_space_topic,
            frozenset(admins),
            tuple(sorted(admins.items())),
            None,
        )
        out.append(replace(layout, rooms=(*layout.rooms, shelf, *kept)))
    return tuple(out)


def adopt(actual: Actual, moves: Mapping[RoomKey, RoomKey]) -> Actual:
    """Last year's rooms read under this year's keys (a room already known under its new key
    has moved before: nothing to do)."""
    rooms = dict(actual.rooms)
    moved = dict(actual.moved)
    for new, old in sorted(moves.items()):
        if new not in rooms and old in rooms:
            rooms[new] = rooms.pop(old)
            moved[new] = old
    return replace(actual, rooms=rooms, moved=moved)
