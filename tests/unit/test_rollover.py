"""The new school year: 5А's room is 6А's, the graduates' rooms are archived, 1st grades new."""

from __future__ import annotations

from dataclasses import replace

import pytest

from appservice.diary_sync.layout import Levels, RoomKey, RoomKind, layout_diary, room_key
from appservice.diary_sync.model import Diary
from appservice.diary_sync.names import RU
from appservice.diary_sync.plan import (
    AddChild,
    CreateRoom,
    DestructivePlanError,
    MoveRoom,
    SetName,
    SetSendLevel,
    describe,
    guard,
    plan,
)
from appservice.diary_sync.rollover import (
    READ_ONLY,
    adopt,
    archived_rooms,
    graduated,
    room_moves,
    successions,
    with_archive,
)
from appservice.diary_sync.state import Account, Actual, Desired, resolve
from kernel.ids import ServerName, SourcedId, user_id
from synthetic.school_year import generate_school_year
from tests.fakes import apply

SERVER = ServerName("school.test")
YEAR1 = generate_school_year(300, 2025).diary
YEAR2 = generate_school_year(300, 2026).diary
EMPTY = Actual({}, {})


def _desired(diary: Diary, archive: dict[RoomKey, object] | None = None) -> Desired:
    accounts = {p: Account(user_id(f"parta.{p}", SERVER), True) for p in diary.people}
    layouts = with_archive(layout_diary(diary), archive or {})  # type: ignore[arg-type]
    return resolve(layouts, accounts, frozenset(diary.people), True)


def test_each_class_carries_on_its_last_years_class_and_the_11th_grade_graduates() -> None:
    moves = successions(YEAR1, YEAR2)
    assert moves[SourcedId("cls-2026-6a")] == "cls-2025-5a"
    assert moves[SourcedId("cls-2026-11a")] == "cls-2025-10a"
    assert {new for new in moves if YEAR2.classes[new].grade == "1"} == set()  # 1st grades: new
    assert graduated(YEAR1, YEAR2, moves) == {"cls-2025-11a"}
    assert successions(YEAR2, YEAR2) == {}
    assert successions(None, YEAR2) == {}


def test_a_class_split_in_two_carries_on_in_its_larger_part_only() -> None:
    """5А split: two pupils in 6А, the rest in a new 6Б: 6Б has 5А's history, 6А starts anew."""
    old, small, large = (SourcedId(c) for c in ("cls-2025-5a", "cls-2026-6a", "cls-2026-6b"))
    pupils = sorted(e.person_id for e in YEAR2.enrollments if e.class_id == small)
    stay = set(pupils[:2])
    split = replace(
        YEAR2,
        classes={**YEAR2.classes, large: replace(YEAR2.classes[small], id=large, title="6Б")},
        enrollments=frozenset(
            replace(e, class_id=large)
            if e.class_id == small and e.person_id not in stay and e.role.value == "student"
            else e
            for e in YEAR2.enrollments
        ),
    )
    moves = successions(YEAR1, split)
    assert moves[large] == old
    assert small not in moves


def test_the_new_year_moves_rooms_archives_the_graduates_and_converges() -> None:
    first = _desired(YEAR1)
    state = apply(EMPTY, plan(first, EMPTY), first)
    moves = room_moves(YEAR1, YEAR2, successions(YEAR1, YEAR2))
    school = next(iter(YEAR2.schools))
    new_class = room_key(school, RoomKind.CLASS, SourcedId("cls-2026-6a"))
    old_class = room_key(school, RoomKind.CLASS, SourcedId("cls-2025-5a"))
    assert moves[new_class] == old_class
    assert moves[room_key(school, RoomKind.CLASS_PARENTS, SourcedId("cls-2026-6a"))] == (
        room_key(school, RoomKind.CLASS_PARENTS, SourcedId("cls-2025-5a"))
    )
    gone = graduated(YEAR1, YEAR2, successions(YEAR1, YEAR2))
    archive = archived_rooms(YEAR1, YEAR2, gone, RU)
    archived_key = room_key(school, RoomKind.CLASS, SourcedId("cls-2025-11a"))
    assert archive[archived_key].name == "11А — класс (архив)"

    second = _desired(YEAR2, archive)  # type: ignore[arg-type]
    adopted = adopt(state, moves)
    room_before = state.rooms[old_class].room_id
    assert adopted.rooms[new_class].room_id == room_before  # the same room: its history
    actions = plan(second, adopted)
    assert MoveRoom(old_class, new_class) in actions
    assert SetName(new_class, "6А — класс") in actions
    assert not [a for a in actions if isinstance(a, CreateRoom) and a.spec.key == new_class]
    created = {a.spec.key for a in actions if isinstance(a, CreateRoom)}
    assert room_key(school, RoomKind.CLASS, SourcedId("cls-2026-1a")) in created
    assert SetSendLevel(archived_key, READ_ONLY) in actions
    shelf = room_key(school, RoomKind.ARCHIVE)
    assert second.rooms[shelf].spec.is_space
    assert second.rooms[shelf].spec.name == "Архив"
    assert AddChild(shelf, archived_key) in actions  # the archive lists its chats
    assert not second.rooms[shelf].spec.federate
    archived = second.rooms[archived_key]
    assert archived.power
    assert set(archived.power.values()) == {Levels.ADMINISTRATION}
    assert all(u in archived.power for u in archived.members)  # the administration alone
    assert "новый учебный год" in describe(MoveRoom(old_class, new_class))
    done = apply(adopted, actions, second)
    assert plan(second, adopt(done, moves)) == []  # a re-run changes nothing


def test_the_guard_lets_a_whole_school_move_up_a_year_but_not_lose_its_people() -> None:
    """Eager: everybody in Matrix. A year's moves remove a fifth of all memberships (parents
    change grade rooms, teachers change classes); only removals of people who leave count."""
    first = _desired(YEAR1)
    state = apply(EMPTY, plan(first, EMPTY), first)
    carried = successions(YEAR1, YEAR2)
    archive = archived_rooms(YEAR1, YEAR2, graduated(YEAR1, YEAR2, carried), RU)
    second = _desired(YEAR2, archive)  # type: ignore[arg-type]
    adopted = adopt(state, room_moves(YEAR1, YEAR2, carried))
    actions = plan(second, adopted)
    with pytest.raises(DestructivePlanError):
        guard(actions, adopted, 0.1, floor=5)
    staying = frozenset(u for r in second.rooms.values() for u in r.members)
    guard(actions, adopted, 0.1, floor=5, staying=staying)
    nobody = replace(
        YEAR2, people={p: x for p, x in YEAR2.people.items() if x.role.value != "student"}
    )
    emptied = _desired(nobody, archive)  # type: ignore[arg-type]
    lost = plan(emptied, adopted)
    kept = frozenset(u for r in emptied.rooms.values() for u in r.members)
    with pytest.raises(DestructivePlanError):
        guard(lost, adopted, 0.1, floor=5, staying=kept)
