"""The desired Matrix layout of a school, derived from its diary (pure).

::

    Diary ──layout_school──▶ SchoolLayout
      ├─ space           «МАОУ лицей № 14»        minors: never federates
      ├─ announcements   «Объявления»             everyone; only staff post
      ├─ staff           «Учительская»            teachers, administration
      ├─ class     ×N    «5А — класс»             students, class and subject teachers
      ├─ parents   ×N    «5А — родители»          parents, class teacher
      ├─ grade parents   «Родители 5-х классов»   parents, class teachers, administration
      └─ school parents  «Родители — вся школа»   parents, class teachers, administration

Rooms are keyed by a stable alias localpart so that re-runs find them again.
Powers are synced only at the reserved levels in :class:`Levels`; anything else a
teacher grants by hand is left alone by the planner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    Enrollment,
    EnrollmentRole,
    Person,
    Role,
    SchoolClass,
)
from appservice.diary_sync.names import RU, RoomNames
from kernel.ids import SourcedId, escape_localpart

RoomKey = NewType("RoomKey", str)
"""An alias localpart owned by the appservice (``parta.<school>.<kind>[.<class>]``)."""

ALIAS_PREFIX = "parta."


class Levels:
    """Power levels the sync owns. Values are distinct from Element's 50/100 on purpose."""

    ADMINISTRATION = 95
    CLASS_TEACHER = 80
    TEACHER = 60
    SYNCED = frozenset({ADMINISTRATION, CLASS_TEACHER, TEACHER})


class RoomKind(StrEnum):
    SPACE = "space"
    ANNOUNCEMENTS = "announcements"
    STAFF = "staff"
    CLASS = "class"
    CLASS_PARENTS = "parents"
    GRADE_PARENTS = "grade-parents"
    SCHOOL_PARENTS = "school-parents"
    NETWORK_STAFF = "network-staff"
    """The school's teachers in the region's network: federates, outside the school space."""
    MODERATION = "moderation"
    """Reports of messages (Matrix reports) reach the administration here; no minors."""
    ARCHIVE = "archive"
    """A space of graduated classes' chats (their history has minors in it)."""

    @property
    def holds_minors(self) -> bool:
        return self in (RoomKind.SPACE, RoomKind.ANNOUNCEMENTS, RoomKind.CLASS, RoomKind.ARCHIVE)


@dataclass(frozen=True)
class RoomSpec:
    key: RoomKey
    kind: RoomKind
    name: str
    topic: str
    members: frozenset[SourcedId]
    power: tuple[tuple[SourcedId, int], ...]
    """Synced power levels, sorted by person id."""
    parent: RoomKey | None
    events_default: int = 0
    archived: bool = False
    """A graduated class's chat, kept read-only in the school's archive space."""

    @property
    def is_space(self) -> bool:
        return self.kind in (RoomKind.SPACE, RoomKind.ARCHIVE)

    @property
    def federate(self) -> bool:
        """Rooms with minors never federate; adults' rooms may hold remote accounts."""
        return not self.kind.holds_minors

    def power_of(self, person: SourcedId) -> int:
        return dict(self.power).get(person, 0)

    @property
    def listed(self) -> bool:
        """Named among its space's children (``m.space.child``). Only a room every member of
        the space belongs to is: the space's hierarchy shows any child to every member
        (name, topic, member count), so a student would see the staff room and every
        class's chats. The others point at the space with ``m.space.parent`` alone —
        enough for clients to group them, and for the restricted join rule."""
        return self.kind is RoomKind.ANNOUNCEMENTS or self.archived


@dataclass(frozen=True)
class SchoolLayout:
    school_id: SourcedId
    rooms: tuple[RoomSpec, ...]
    """The space first, then rooms sorted by key."""
    people: Mapping[SourcedId, Person]

    @property
    def space(self) -> RoomSpec:
        return self.rooms[0]


@dataclass(frozen=True)
class _Index:
    """Lookups the layout needs, built once (the model's helpers scan)."""

    students: Mapping[SourcedId, frozenset[SourcedId]]
    teachers: Mapping[SourcedId, frozenset[SourcedId]]
    primary: Mapping[SourcedId, SourcedId]
    parents: Mapping[SourcedId, frozenset[SourcedId]]
    classes_of: Mapping[SourcedId, frozenset[SourcedId]]
    """Each student's classes."""
    children: Mapping[SourcedId, frozenset[SourcedId]]
    """Each parent's children (a district's parents are looked up once per school)."""

    @classmethod
    def of(cls, diary: Diary) -> _Index:
        students: dict[SourcedId, set[SourcedId]] = defaultdict(set)
        teachers: dict[SourcedId, set[SourcedId]] = defaultdict(set)
        classes_of: dict[SourcedId, set[SourcedId]] = defaultdict(set)
        primary: dict[SourcedId, SourcedId] = {}
        for e in sorted(diary.enrollments, key=lambda e: (e.class_id, e.person_id)):
            if not _placed(diary, e):
                continue
            if e.role is EnrollmentRole.STUDENT:
                students[e.class_id].add(e.person_id)
                classes_of[e.person_id].add(e.class_id)
            else:
                teachers[e.class_id].add(e.person_id)
                if e.primary:
                    primary.setdefault(e.class_id, e.person_id)
        parents: dict[SourcedId, set[SourcedId]] = defaultdict(set)
        children: dict[SourcedId, set[SourcedId]] = defaultdict(set)
        for g in diary.guardianships:
            parents[g.student_id].add(g.parent_id)
            children[g.parent_id].add(g.student_id)
        return cls(
            _freeze(students),
            _freeze(teachers),
            primary,
            _freeze(parents),
            _freeze(classes_of),
            _freeze(children),
        )


def _placed(diary: Diary, e: Enrollment) -> bool:
    """Rooms and powers follow the person's primary role: an enrollment in another role
    (a pupil enrolled as a teaching assistant, a parent as an aide), which OneRoster
    allows and the diary keeps, places nobody in a class's rooms and gives no power."""
    person = diary.people.get(e.person_id)
    if person is None:
        return False
    if e.role is EnrollmentRole.STUDENT:
        return person.role is Role.STUDENT
    return person.role.is_staff


def _freeze(groups: Mapping[SourcedId, set[SourcedId]]) -> dict[SourcedId, frozenset[SourcedId]]:
    return {key: frozenset(values) for key, values in groups.items()}


def school_prefix(school_id: SourcedId) -> str:
    """Every room key of one school starts with this."""
    return f"{ALIAS_PREFIX}{escape_localpart(school_id)}."


def room_key(school_id: SourcedId, kind: RoomKind, qualifier: str = "") -> RoomKey:
    parts = [school_prefix(school_id) + kind.value]
    if qualifier:
        parts.append(escape_localpart(qualifier))
    return RoomKey(".".join(parts))


def layout_diary(
    diary: Diary,
    names: RoomNames = RU,
    network: bool = False,
    moderators: frozenset[SourcedId] = frozenset(),
) -> tuple[SchoolLayout, ...]:
    """Every school's rooms; ``network`` adds each school's room in the region's network;
    ``moderators`` (a school's safeguarding leads) join the administration in «Модерация»."""
    index = _Index.of(diary)
    return tuple(
        layout_school(diary, school_id, names, index, network, moderators)
        for school_id in sorted(diary.schools)
    )


def layout_school(
    diary: Diary,
    school_id: SourcedId,
    names: RoomNames = RU,
    index: _Index | None = None,
    network: bool = False,
    moderators: frozenset[SourcedId] = frozenset(),
) -> SchoolLayout:
    index = index or _Index.of(diary)
    people = {pid: p for pid, p in diary.people.items() if _belongs(diary, index, p, school_id)}
    homerooms = sorted(
        (
            c
            for c in diary.classes.values()
            if c.school_id == school_id and c.kind is ClassKind.HOMEROOM
        ),
        key=lambda c: (_grade_order(c.grade), c.title, c.id),
    )
    space_key = room_key(school_id, RoomKind.SPACE)
    rooms = [
        *_school_rooms(diary, school_id, people, index, space_key, names, moderators),
        *(r for c in homerooms for r in _class_rooms(diary, c, index, space_key, names)),
        *_grade_rooms(school_id, people, homerooms, index, space_key, names),
        *([_network_staff(diary, school_id, people, names)] if network else []),
    ]
    space = _space(diary, school_id, people, space_key, names)
    return SchoolLayout(school_id, (space, *sorted(rooms, key=lambda r: r.key)), people)


def _network_staff(
    diary: Diary, school_id: SourcedId, people: Mapping[SourcedId, Person], names: RoomNames
) -> RoomSpec:
    """No parent here: it hangs in the region's network space, never in the school's."""
    school = diary.schools[school_id].name
    return _spec(
        room_key(school_id, RoomKind.NETWORK_STAFF),
        RoomKind.NETWORK_STAFF,
        names.network_staff.format(school=school),
        names.network_staff_topic.format(school=school),
        [p for p, x in people.items() if x.role.is_staff],
        _admins(people),
        None,
    )


def _belongs(diary: Diary, index: _Index, person: Person, school_id: SourcedId) -> bool:
    if school_id in person.school_ids:
        return True
    if person.role is Role.PARENT:  # parents often carry no org: follow their children
        children = index.children.get(person.id, frozenset())
        return any(school_id in diary.people[c].school_ids for c in children if c in diary.people)
    return False


def _grade_order(grade: str) -> tuple[int, str]:
    return (int(grade), grade) if grade.isdigit() else (99, grade)


def _spec(
    key: RoomKey,
    kind: RoomKind,
    name: str,
    topic: str,
    members: Iterable[SourcedId],
    power: Mapping[SourcedId, int],
    parent: RoomKey | None,
    events_default: int = 0,
) -> RoomSpec:
    member_set = frozenset(members)
    synced = tuple(sorted((p, lvl) for p, lvl in power.items() if p in member_set and lvl))
    return RoomSpec(key, kind, name, topic, member_set, synced, parent, events_default)


def _admins(people: Mapping[SourcedId, Person]) -> dict[SourcedId, int]:
    return {p: Levels.ADMINISTRATION for p, x in people.items() if x.role is Role.ADMINISTRATOR}


def _space(
    diary: Diary,
    school_id: SourcedId,
    people: Mapping[SourcedId, Person],
    key: RoomKey,
    names: RoomNames,
) -> RoomSpec:
    name = diary.schools[school_id].name
    return _spec(key, RoomKind.SPACE, name, names.space_topic, people, _admins(people), None)


def _school_rooms(
    diary: Diary,
    school_id: SourcedId,
    people: Mapping[SourcedId, Person],
    index: _Index,
    space: RoomKey,
    names: RoomNames,
    moderators: frozenset[SourcedId] = frozenset(),
) -> list[RoomSpec]:
    admins = _admins(people)
    staff = [p for p, x in people.items() if x.role.is_staff]
    # a safeguarding lead is one of this school's staff: a name from the config that is a
    # pupil, a parent or another school's teacher moderates nothing
    leads = {p: Levels.CLASS_TEACHER for p in sorted(moderators & set(staff)) if p not in admins}
    teachers = {p: Levels.TEACHER for p, x in people.items() if x.role is Role.TEACHER}
    parents = [p for p, x in people.items() if x.role is Role.PARENT]
    class_teachers = _class_teachers(diary, school_id, index)
    return [
        _spec(
            room_key(school_id, RoomKind.ANNOUNCEMENTS),
            RoomKind.ANNOUNCEMENTS,
            names.announcements,
            names.announcements_topic,
            people,
            {**teachers, **admins},
            space,
            events_default=Levels.TEACHER,
        ),
        _spec(
            room_key(school_id, RoomKind.STAFF),
            RoomKind.STAFF,
            names.staff,
            names.staff_topic,
            staff,
            admins,
            space,
        ),
        _spec(
            room_key(school_id, RoomKind.MODERATION),
            RoomKind.MODERATION,
            names.moderation,
            names.moderation_topic,
            [*admins, *leads],
            {**leads, **admins},
            space,
        ),
        _spec(
            room_key(school_id, RoomKind.SCHOOL_PARENTS),
            RoomKind.SCHOOL_PARENTS,
            names.school_parents,
            names.school_parents_topic,
            [*parents, *class_teachers, *admins],
            {**dict.fromkeys(class_teachers, Levels.CLASS_TEACHER), **admins},
            space,
        ),
    ]


def _class_teachers(diary: Diary, school_id: SourcedId, index: _Index) -> list[SourcedId]:
    return sorted(
        {
            teacher
            for class_id, teacher in index.primary.items()
            if (c := diary.classes.get(class_id)) is not None
            and c.school_id == school_id
            and c.kind is ClassKind.HOMEROOM
        }
    )


def _subject_teachers(diary: Diary, homeroom: SchoolClass, index: _Index) -> set[SourcedId]:
    """Teachers of scheduled classes that share a student with the homeroom."""
    students = index.students.get(homeroom.id, frozenset())
    shared = {c for s in students for c in index.classes_of.get(s, ())}
    return {
        teacher
        for class_id in shared
        if (c := diary.classes.get(class_id)) is not None
        and c.kind is ClassKind.SCHEDULED
        and c.school_id == homeroom.school_id
        for teacher in index.teachers.get(class_id, frozenset())
    }


def _class_rooms(
    diary: Diary, homeroom: SchoolClass, index: _Index, space: RoomKey, names: RoomNames
) -> list[RoomSpec]:
    students = index.students.get(homeroom.id, frozenset())
    class_teacher = index.primary.get(homeroom.id)
    head = {class_teacher: Levels.CLASS_TEACHER} if class_teacher else {}
    subject = dict.fromkeys(_subject_teachers(diary, homeroom, index), Levels.TEACHER)
    parents = {p for s in students for p in index.parents.get(s, frozenset())}
    title = homeroom.title
    school = homeroom.school_id
    return [
        _spec(
            room_key(school, RoomKind.CLASS, homeroom.id),
            RoomKind.CLASS,
            names.class_room.format(title=title),
            names.class_topic.format(title=title),
            [*students, *head, *subject],
            {**subject, **head},
            space,
        ),
        _spec(
            room_key(school, RoomKind.CLASS_PARENTS, homeroom.id),
            RoomKind.CLASS_PARENTS,
            names.class_parents.format(title=title),
            names.class_parents_topic.format(title=title),
            [*parents, *head],
            head,
            space,
        ),
    ]


def _grade_rooms(
    school_id: SourcedId,
    people: Mapping[SourcedId, Person],
    homerooms: list[SchoolClass],
    index: _Index,
    space: RoomKey,
    names: RoomNames,
) -> list[RoomSpec]:
    admins = _admins(people)
    by_grade: dict[str, list[SchoolClass]] = defaultdict(list)
    for c in homerooms:
        if c.grade:
            by_grade[c.grade].append(c)
    rooms = []
    for grade, classes in by_grade.items():
        heads = {t: Levels.CLASS_TEACHER for c in classes if (t := index.primary.get(c.id))}
        parents = {
            p
            for c in classes
            for s in index.students.get(c.id, frozenset())
            for p in index.parents.get(s, frozenset())
        }
        rooms.append(
            _spec(
                room_key(school_id, RoomKind.GRADE_PARENTS, grade),
                RoomKind.GRADE_PARENTS,
                names.grade_parents.format(grade=grade),
                names.grade_parents_topic.format(grade=grade),
                [*parents, *heads, *admins],
                {**heads, **admins},
                space,
            )
        )
    return rooms


def lesson_room(diary: Diary, class_id: SourcedId) -> RoomKey | None:
    """The class chat a lesson of ``class_id`` is held in.

    A homeroom's own chat; for a scheduled class (5А Математика), the chat of the
    homeroom that shares the most of its students (ties: the first by id).
    """
    klass = diary.classes.get(class_id)
    if klass is None:
        return None
    if klass.kind is ClassKind.HOMEROOM:
        return room_key(klass.school_id, RoomKind.CLASS, klass.id)
    index = _Index.of(diary)
    students = index.students.get(class_id, frozenset())
    shared = [
        (len(students & index.students.get(c.id, frozenset())), c.id)
        for c in diary.classes.values()
        if c.kind is ClassKind.HOMEROOM and c.school_id == klass.school_id
    ]
    best = max(sorted(shared, key=lambda x: x[1]), key=lambda x: x[0], default=None)
    if best is None or best[0] == 0:
        return None
    return room_key(klass.school_id, RoomKind.CLASS, best[1])
