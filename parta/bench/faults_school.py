"""The fault harness's school: a generated diary, changed a little each round, and the
invariants a converged school must hold, read from Synapse itself (not from the sync).

::

    diary_n ──mutate(rng)──▶ diary_n+1: a new homeroom (its chats to make), new pupils and
                                        parents (new accounts), a pupil moved into it
    converged? ── every desired room: the members Synapse holds (join or invite) are
                  exactly the diary's, plus the school's bot
               ── the bot is in no room the store does not know (no duplicate room)
               ── a further sync plans nothing
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from appservice.diary_sync.model import (
    ClassKind,
    Diary,
    Enrollment,
    EnrollmentRole,
    Guardianship,
    Person,
    Role,
    SchoolClass,
)
from appservice.school_sync import SchoolSync, SyncOptions
from appservice.store import Store, events
from kernel.ids import RoomID, SourcedId, UserID
from kernel.matrix import MatrixClient
from kernel.matrix.client import q

if TYPE_CHECKING:
    from parta.bench.faults import Harness

DELIVERY_S = 300.0
"""Synapse retries a down appservice after 2, 4, 8 … 128 s: five minutes cover seven tries."""


@dataclass(frozen=True)
class Check:
    """One invariant after one fault: held or not, and what was seen."""

    name: str
    ok: bool
    detail: str = ""
    upstream: str = ""
    """Why a failed check is outside parta (with the evidence): counted as a known gap, not
    a violation. Only ever set from what the component itself logged during the round."""


NEWCOMERS = 4


def mutate(diary: Diary, rng: random.Random, n: int) -> Diary:
    """The diary a day later: round ``n``'s new homeroom (its chats and space to make), its
    class teacher, four new pupils with a parent each, and a pupil moved into it."""
    org = next(iter(diary.schools))
    homerooms = sorted(c for c, k in diary.classes.items() if k.kind is ClassKind.HOMEROOM)
    students = sorted(p for p, person in diary.people.items() if person.role is Role.STUDENT)
    teachers = sorted(p for p, person in diary.people.items() if person.role is Role.TEACHER)
    people, classes = dict(diary.people), dict(diary.classes)
    guardians = set(diary.guardianships)
    homeroom = SourcedId(f"cls-fault-{n}")
    grade = classes[rng.choice(homerooms)].grade
    classes[homeroom] = SchoolClass(homeroom, f"{grade}Ф{n}", org, ClassKind.HOMEROOM, grade)
    mover = rng.choice(students)
    enrollments = {
        e
        for e in diary.enrollments
        if not (
            e.person_id == mover and e.role is EnrollmentRole.STUDENT and e.class_id in homerooms
        )
    }
    enrollments.add(Enrollment(homeroom, mover, EnrollmentRole.STUDENT))
    enrollments.add(Enrollment(homeroom, rng.choice(teachers), EnrollmentRole.TEACHER, True))
    for i in range(NEWCOMERS):
        pupil, parent = SourcedId(f"stu-fault-{n}-{i}"), SourcedId(f"par-fault-{n}-{i}")
        family = f"Новичков{n}-{i}"
        people[pupil] = Person(pupil, Role.STUDENT, "Иван", family, school_ids=frozenset({org}))
        people[parent] = Person(parent, Role.PARENT, "Мария", family, school_ids=frozenset({org}))
        enrollments.add(Enrollment(homeroom, pupil, EnrollmentRole.STUDENT))
        guardians.add(Guardianship(parent, pupil))
    return replace(
        diary,
        classes=classes,
        people=people,
        enrollments=frozenset(enrollments),
        guardianships=frozenset(guardians),
    )


async def converge(school: SchoolSync, diary: Diary) -> list[Check]:
    """Sync until nothing fails (at most three tries), then once more: nothing to do."""
    failed: list[str] = []
    for _ in range(3):
        result = await school.run(diary, SyncOptions(eager=True))
        report = result.report
        failed = [] if report is None else [f"{a}: {e}" for a, e in report.failed]
        if not failed:
            break
    again = await school.run(diary, SyncOptions(eager=True, dry_run=True))
    return [
        Check("a re-run applies the diary", not failed, f"{len(failed)} failed: {failed[:1]}"),
        Check("then nothing is left to do", not again.actions, f"{len(again.actions)} planned"),
    ]


async def rooms_hold(
    school: SchoolSync, store: Store, client: MatrixClient, diary: Diary
) -> list[Check]:
    """No duplicate room; every room's members as the diary says, read from Synapse."""
    desired = school.desired(diary, eager=True)
    known = store.room_ids()
    joined = await client.request("GET", "/_matrix/client/v3/joined_rooms")
    stray = {RoomID(r) for r in joined["joined_rooms"]} - set(known.values())
    missing_rooms = [k for k in desired.rooms if k not in known]
    wrong: list[str] = []
    for key, room in desired.rooms.items():
        if key not in known:
            continue
        held = await _members(client, known[key])
        want = set(room.members) | {school.bot}
        if held != want:
            lost, extra = sorted(want - held), sorted(held - want)
            wrong.append(f"{key}: missing {lost[:3]} extra {extra[:3]}")
    return [
        Check("no duplicate room", not stray, f"{len(stray)} rooms the store does not know"),
        Check("every room exists", not missing_rooms, ", ".join(map(str, missing_rooms[:3]))),
        Check("memberships as the diary says", not wrong, "; ".join(wrong[:3])),
    ]


async def _members(client: MatrixClient, room: RoomID) -> set[UserID]:
    state = await client.request("GET", f"/_matrix/client/v3/rooms/{q(room)}/state")
    return {
        UserID(e["state_key"])
        for e in state.get("chunk", [])
        if e.get("type") == "m.room.member"
        and e.get("content", {}).get("membership") in {"join", "invite"}
    }


async def stored(harness: Harness, ids: list[str], wait_s: float = DELIVERY_S) -> dict[str, int]:
    """How many times each event is in the appservice's store, once all are (or time's up)."""
    query = (
        sa.select(events.c.event_id, sa.func.count())
        .where(events.c.event_id.in_(ids))
        .group_by(events.c.event_id)
    )
    deadline = time.monotonic() + wait_s
    while True:
        with harness.store.engine.connect() as c:
            found = {str(e): int(k) for e, k in c.execute(query)}
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)  # Synapse's retries arrive when they do; bounded
