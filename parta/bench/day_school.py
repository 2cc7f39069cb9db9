"""The school of ``parta bench day``: generated, synced in full on a whole stack, and its
day's plan (who is a client, which rooms they talk in, which messages at which moment).

::

    generate_school(S) with people >= N ─▶ the whole stack on free ports (Synapse, appservice,
    diary, call bridge, bots) ─▶ eager sync (everybody joined) and the diary loaded
    ─▶ rooms by kind with their members ─▶ N clients: staff first, then class by class
    (its students, then their parents), so the first classes are whole
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appservice.diary_sync.layout import RoomKind
from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from appservice.school_sync import SyncOptions
from kernel.config import (
    AppserviceConfig,
    BotsConfig,
    CallBridgeConfig,
    DatabaseConfig,
    DiaryConfig,
    HomeserverConfig,
    SchoolConfig,
    SynapseWorkersConfig,
)
from kernel.ids import SourcedId, UserID
from parta.diary_load import store_diary
from parta.ports import free_port, free_port_block
from parta.stack import SchoolStack
from synthetic.school import GeneratedSchool, generate_school

TALK = {RoomKind.CLASS: "class", RoomKind.CLASS_PARENTS: "parents"}
"""The rooms the day's chatter goes to, and the names the figures use for them."""
ANNOUNCEMENTS = "announcements"


@dataclass(frozen=True)
class Room:
    room_id: str
    kind: str
    members: frozenset[UserID]
    senders: frozenset[UserID]
    """Members whose power lets them post."""


@dataclass(frozen=True)
class School:
    people: tuple[UserID, ...]
    """Every person, in the order clients are taken."""
    rooms: tuple[Room, ...]
    staff: frozenset[UserID] = frozenset()
    students: frozenset[UserID] = frozenset()


def generated_for(clients: int, seed: int) -> GeneratedSchool:
    """The smallest generated school with at least ``clients`` people."""
    students = max(1, clients * 10 // 27)
    while True:
        school = generate_school(students, seed=seed)
        if len(school.diary.people) >= clients:
            return school
        students += max(1, students // 20)


def day_config(state: Path, database: str, workers: int = 0) -> SchoolConfig:
    """The stack on free ports; ``workers``: Synapse's generic workers (PostgreSQL only)."""
    port = free_port()
    synapse_workers = (
        SynapseWorkersConfig(generic_workers=workers, first_port=free_port_block(workers + 1))
        if workers
        else SynapseWorkersConfig()
    )
    return SchoolConfig(
        server_name=f"localhost:{port}",
        state_dir=state,
        homeserver=HomeserverConfig(client_port=port, workers=synapse_workers),
        appservice=AppserviceConfig(port=free_port()),
        diary=DiaryConfig(port=free_port()),
        call_bridge=CallBridgeConfig(port=free_port_block(3), workers=2),
        bots=BotsConfig(port=free_port()),
        database=DatabaseConfig(kind="postgres", name_prefix=f"parta_day_{port}")
        if database == "postgres"
        else DatabaseConfig(),
        for_tests=True,  # rate limits off, as a school's appservice registration has them
    )


def fresh(config: SchoolConfig) -> SchoolStack:
    shutil.rmtree(config.state_dir, ignore_errors=True)
    return SchoolStack.for_config(config)


async def provision(stack: SchoolStack, generated: GeneratedSchool) -> School:
    """Everybody joined to every room of theirs; the diary loaded as the school's."""
    client, store = stack.client(), stack.open_store()
    diary_store = stack.open_diary_store()
    try:
        school = stack.school_sync(client, store)
        result = await school.run(generated.diary, SyncOptions(eager=True))
        if result.report is not None and result.report.failed:
            raise RuntimeError(f"the school's sync failed: {result.report.failed}")
        store_diary(diary_store, generated.diary, generated.timetable)
        desired = school.desired(generated.diary, eager=True)
        ids = store.room_ids()
        rooms = []
        for key, room in desired.rooms.items():
            kind = TALK.get(room.spec.kind)
            if room.spec.kind is RoomKind.ANNOUNCEMENTS:
                kind = ANNOUNCEMENTS
            if kind is None or key not in ids:
                continue
            floor = room.spec.events_default
            senders = frozenset(u for u in room.members if room.power.get(u, 0) >= floor)
            rooms.append(Room(ids[key], kind, room.members, senders))
        diary = generated.diary
        order = [school.puppet_id(p) for p in people_order(diary)]
        staff = frozenset(school.puppet_id(p) for p, x in diary.people.items() if x.role.is_staff)
        students = frozenset(
            school.puppet_id(p) for p, x in diary.people.items() if x.role is Role.STUDENT
        )
        return School(tuple(order), tuple(sorted(rooms, key=lambda r: r.room_id)), staff, students)
    finally:
        diary_store.close()
        store.close()
        await client.aclose()


def people_order(diary: Diary) -> list[SourcedId]:
    """Staff, then each homeroom's students followed by their parents."""
    staff = sorted(p for p, x in diary.people.items() if x.role.is_staff)
    homerooms = sorted(c for c, x in diary.classes.items() if x.kind is ClassKind.HOMEROOM)
    students: dict[SourcedId, list[SourcedId]] = {c: [] for c in homerooms}
    for e in sorted(diary.enrollments, key=lambda e: e.person_id):
        if e.role is EnrollmentRole.STUDENT and e.class_id in students:
            students[e.class_id].append(e.person_id)
    parents: dict[SourcedId, list[SourcedId]] = {}
    for g in sorted(diary.guardianships, key=lambda g: g.parent_id):
        parents.setdefault(g.student_id, []).append(g.parent_id)
    order = list(staff)
    for room in homerooms:
        order += students[room]
        order += [p for s in students[room] for p in parents.get(s, [])]
    seen: set[SourcedId] = set()
    unique = [p for p in order if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]
    return unique + sorted(set(diary.people) - seen)


def day_messages(
    school: School,
    clients: frozenset[UserID],
    rate: float,
    day_s: float,
    seed: int,
    run: str,
    photo_every: int = 0,
) -> list[dict[str, Any]]:
    """The day's chatter: ``rate`` messages a second in class and parents' rooms, each
    from a client member of its room, one in ``photo_every`` a photo (0: none), and one
    announcement to the whole school midday.
    Ids start with ``run``: an earlier run's messages come back in a later first sync."""
    luck = random.Random(seed)  # noqa: S311 - a repeatable day, not a secret
    talk = [
        (r, sorted(r.senders & clients))
        for r in school.rooms
        if r.kind != ANNOUNCEMENTS and len(r.members & clients) >= 2 and r.senders & clients
    ]
    out: list[dict[str, Any]] = []
    for n in range(round(rate * day_s)) if talk else ():
        room, senders = luck.choice(talk)
        at = luck.uniform(0, day_s)
        photo = photo_every > 0 and n % photo_every == photo_every - 1
        body = "Фото доски" if photo else "Домашнее задание"
        out.append(_message(f"{run}m{n}", room, luck.choice(senders), at, body) | {"photo": photo})
    for room in school.rooms:
        senders = sorted(room.senders & clients)
        if room.kind == ANNOUNCEMENTS and senders:
            body = "Завтра родительское собрание в 18:00"
            out.append(_message(f"{run}a0", room, senders[0], day_s / 2, body) | {"photo": False})
    return sorted(out, key=lambda m: float(m["at"]))


def day_poll(
    school: School, clients: frozenset[UserID], day_s: float, run: str
) -> dict[str, Any] | None:
    """The poll: a teacher (a client who may post) of the class chat with the most student
    clients asks at a quarter of the day; that room's student clients answer."""
    best: tuple[int, str, Room, UserID] | None = None
    for room in school.rooms:
        if room.kind != TALK[RoomKind.CLASS]:
            continue
        teachers = sorted(room.senders & school.staff & clients)
        voters = room.members & school.students & clients
        if teachers and voters and (best is None or (len(voters), room.room_id) > best[:2]):
            best = (len(voters), room.room_id, room, teachers[0])
    if best is None:
        return None
    _count, _id, room, teacher = best
    return {
        "id": f"{run}poll",
        "room": room.room_id,
        "teacher": teacher,
        "voters": sorted(room.members & school.students & clients),
        "at": round(day_s / 4, 3),
    }


def _message(mid: str, room: Room, sender: UserID, at: float, body: str) -> dict[str, Any]:
    return {
        "id": mid,
        "room": room.room_id,
        "kind": room.kind,
        "sender": sender,
        "at": round(at, 3),
        "body": body,
    }
