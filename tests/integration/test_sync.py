"""A small school synced into a real Synapse: rooms, people, powers, moves, re-runs."""

from __future__ import annotations

import pytest

from appservice.diary_sync.layout import Levels, RoomKey, RoomKind, layout_diary
from appservice.diary_sync.model import Diary
from appservice.school_sync import SchoolSync, SyncOptions
from appservice.store import Store
from kernel.ids import RoomID, SourcedId, UserID
from kernel.matrix import Forbidden, MatrixClient
from tests.school import move_student, small_school

pytestmark = pytest.mark.integration


async def joined_rooms(client: MatrixClient, user: UserID) -> set[RoomID]:
    data = await client.request("GET", "/_matrix/client/v3/joined_rooms", as_user=user)
    return {RoomID(r) for r in data["joined_rooms"]}


def keys_of(store: Store, rooms: set[RoomID]) -> set[RoomKey]:
    by_id = {room: key for key, room in store.room_ids().items()}
    return {by_id[r] for r in rooms if r in by_id}


def expected_keys(diary: Diary, person: SourcedId) -> set[RoomKey]:
    return {s.key for layout in layout_diary(diary) for s in layout.rooms if person in s.members}


def room_of(diary: Diary, kind: RoomKind, qualifier: str = "") -> RoomKey:
    return next(
        s.key
        for layout in layout_diary(diary)
        for s in layout.rooms
        if s.kind is kind and s.key.endswith(qualifier)
    )


async def test_first_sync_creates_every_room_and_a_rerun_writes_nothing(
    school: SchoolSync, store: Store, client: MatrixClient
) -> None:
    diary = small_school("first")
    first = await school.run(diary, SyncOptions())
    assert first.report is not None
    layout_rooms = [s for layout in layout_diary(diary) for s in layout.rooms]
    assert first.report.done["CreateRoom"] == len(layout_rooms)
    ids = store.room_ids()
    for spec in layout_rooms:
        create = await client.state_event(ids[spec.key], "m.room.create")
        assert create.get("m.federate", True) is spec.federate
        assert create.get("type") == ("m.space" if spec.is_space else None)
        history = await client.state_event(ids[spec.key], "m.room.history_visibility")
        assert history["history_visibility"] == "shared"
    again = await school.run(diary, SyncOptions())
    assert again.actions == []
    assert again.report is not None
    assert again.report.writes == 0


async def test_each_role_sees_exactly_its_rooms_with_its_powers(
    school: SchoolSync, store: Store, client: MatrixClient
) -> None:
    diary = small_school("roles")
    await school.run(diary, SyncOptions())
    people = [SourcedId(f"roles-{p}") for p in ("s1", "p2", "t1", "t4", "a1")]
    for person in people:
        await school.link(diary, person, None, SyncOptions())
    for person in people:
        user = school.puppet_id(person)
        assert keys_of(store, await joined_rooms(client, user)) == expected_keys(diary, person)
    ids = store.room_ids()
    powers = await client.state_event(
        ids[room_of(diary, RoomKind.CLASS, "5a")], "m.room.power_levels"
    )
    assert powers["users"] == {
        school.puppet_id(SourcedId("roles-t1")): Levels.CLASS_TEACHER,
        school.puppet_id(SourcedId("roles-t4")): Levels.TEACHER,
    }
    announcements = await client.state_event(
        ids[room_of(diary, RoomKind.ANNOUNCEMENTS)], "m.room.power_levels"
    )
    assert announcements["events_default"] == Levels.TEACHER
    assert announcements["users"][school.puppet_id(SourcedId("roles-a1"))] == Levels.ADMINISTRATION


async def test_a_student_cannot_join_another_class_room(
    school: SchoolSync, store: Store, client: MatrixClient
) -> None:
    diary = small_school("nojoin")
    await school.run(diary, SyncOptions())
    student = SourcedId("nojoin-s1")
    linked = await school.link(diary, student, None, SyncOptions())
    # a partial read (no hierarchy) still sees the space's children: linking writes memberships
    kinds = {type(a).__name__ for a in linked.actions}
    assert kinds == {"RegisterPuppet", "Join"}
    other = store.room_ids()[room_of(diary, RoomKind.CLASS, "5b")]
    with pytest.raises(Forbidden) as refused:
        await client.join(other, school.puppet_id(student))
    assert "дневник" in refused.value.message


async def test_a_moved_student_leaves_the_old_rooms_and_joins_the_new(
    school: SchoolSync, store: Store, client: MatrixClient
) -> None:
    diary = small_school("move")
    await school.run(diary, SyncOptions())
    student = SourcedId("move-s3")
    await school.link(diary, student, None, SyncOptions())
    moved = move_student(diary, student, SourcedId("move-5b"))
    result = await school.run(moved, SyncOptions())
    kinds = sorted(type(a).__name__ for a in result.actions)
    assert kinds == ["Join", "Remove"]
    rooms = keys_of(store, await joined_rooms(client, school.puppet_id(student)))
    assert room_of(moved, RoomKind.CLASS, "5b") in rooms
    assert room_of(moved, RoomKind.CLASS, "5a") not in rooms
    assert rooms == expected_keys(moved, student)


async def test_hand_granted_power_survives_a_sync(
    school: SchoolSync, store: Store, client: MatrixClient
) -> None:
    diary = small_school("hand")
    await school.run(diary, SyncOptions())
    room = store.room_ids()[room_of(diary, RoomKind.STAFF)]
    guest = UserID("@guest-psychologist:elsewhere.example")
    content = await client.state_event(room, "m.room.power_levels")
    content["users"][guest] = 50
    await client.send_state(room, "m.room.power_levels", content)
    result = await school.run(diary, SyncOptions())
    assert result.actions == []
    after = await client.state_event(room, "m.room.power_levels")
    assert after["users"][guest] == 50
