"""The planner's properties: idempotence, convergence, order, and the guard."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appservice.diary_sync.content import create_room_body
from appservice.diary_sync.layout import Levels, layout_diary
from appservice.diary_sync.model import Diary
from appservice.diary_sync.plan import (
    CreateRoom,
    Deactivate,
    DestructivePlanError,
    Invite,
    Join,
    Reactivate,
    Remove,
    RemoveChild,
    SetRetention,
    describe,
    guard,
    merge_power,
    plan,
)
from appservice.diary_sync.state import Account, Actual, Desired, leavers, resolve
from kernel.ids import ServerName, SourcedId, UserID, user_id
from tests.fakes import apply
from tests.school import move_student, small_school

DIARY = small_school("u")
PEOPLE = sorted(DIARY.people)
SERVER = ServerName("school.test")
EMPTY = Actual({}, {})


def accounts() -> dict[SourcedId, Account]:
    return {p: Account(user_id(f"parta.{p}", SERVER), True) for p in PEOPLE}


def desired(linked: frozenset[SourcedId], eager: bool = False, diary: Diary = DIARY) -> Desired:
    return resolve(layout_diary(diary), accounts(), linked, eager)


linked_sets = st.frozensets(st.sampled_from(PEOPLE))


@settings(max_examples=60, deadline=None)
@given(linked=linked_sets, eager=st.booleans(), cut=st.integers(min_value=0, max_value=400))
def test_a_partly_applied_plan_converges_on_the_next_run(
    linked: frozenset[SourcedId], eager: bool, cut: int
) -> None:
    """A crash after any prefix of the actions: the next plan finishes the job."""
    want = desired(linked, eager)
    actions = plan(want, EMPTY)
    crashed = apply(EMPTY, actions[:cut], want)
    rest = plan(want, crashed)
    done = apply(crashed, rest, want)
    assert plan(want, done) == []


@settings(max_examples=40, deadline=None)
@given(before=linked_sets, after=linked_sets, eager=st.booleans())
def test_changing_who_is_linked_converges(
    before: frozenset[SourcedId], after: frozenset[SourcedId], eager: bool
) -> None:
    first = desired(before, eager)
    state = apply(EMPTY, plan(first, EMPTY), first)
    second = desired(after, eager)
    state = apply(state, plan(second, state), second)
    assert plan(second, state) == []


@given(linked=linked_sets)
def test_the_plan_is_deterministic_and_ordered_by_phase(linked: frozenset[SourcedId]) -> None:
    want = desired(linked)
    first, second = plan(want, EMPTY), plan(want, EMPTY)
    assert first == second
    phases = [a.phase for a in first]
    assert phases == sorted(phases)


def test_the_space_is_created_before_the_rooms_restricted_to_it() -> None:
    creates = [a for a in plan(desired(frozenset()), EMPTY) if isinstance(a, CreateRoom)]
    assert creates[0].spec.is_space
    assert all(not c.spec.is_space for c in creates[1:])


def test_a_moved_student_is_joined_before_being_removed() -> None:
    student = SourcedId("u-s3")
    want = desired(frozenset({student}))
    state = apply(EMPTY, plan(want, EMPTY), want)
    moved = desired(frozenset({student}), diary=move_student(DIARY, student, SourcedId("u-5b")))
    actions = plan(moved, state)
    assert [type(a) for a in actions] == [Join, Remove]


def test_staff_exist_from_the_first_sync_students_only_when_linked() -> None:
    want = desired(frozenset())
    members = {u for r in want.rooms.values() for u in r.members}
    staff = {accounts()[p].user_id for p, x in DIARY.people.items() if x.role.is_staff}
    assert members == staff


@pytest.mark.parametrize(
    ("have", "want", "managed", "expected"),
    [
        ({"@t:s": Levels.TEACHER}, {}, {"@t:s"}, {}),
        ({"@t:s": 50}, {}, {"@t:s"}, {"@t:s": 50}),
        ({"@x:o": Levels.TEACHER}, {}, set(), {"@x:o": Levels.TEACHER}),
        ({"@t:s": Levels.TEACHER}, {"@t:s": Levels.CLASS_TEACHER}, {"@t:s"}, {"@t:s": 80}),
    ],
    ids=["synced level removed", "hand level kept", "unmanaged kept", "promoted"],
)
def test_merge_power_keeps_what_teachers_granted_by_hand(
    have: dict[str, int], want: dict[str, int], managed: set[str], expected: dict[str, int]
) -> None:
    result = merge_power(
        {UserID(u): v for u, v in want.items()},
        {UserID(u): v for u, v in have.items()},
        frozenset(UserID(u) for u in managed),
    )
    assert result == expected


def test_the_guard_refuses_a_plan_that_empties_the_school() -> None:
    everyone = frozenset(PEOPLE)
    want = desired(everyone, eager=True)
    state = apply(EMPTY, plan(want, EMPTY), want)
    nobody_left = replace(DIARY, people={}, enrollments=frozenset(), guardianships=frozenset())
    nobody_left = replace(nobody_left, people={p: DIARY.people[p] for p in PEOPLE[:1]})
    empty_want = resolve(layout_diary(nobody_left), accounts(), frozenset(), True)
    actions = plan(empty_want, state)
    with pytest.raises(DestructivePlanError) as refused:
        guard(actions, state, max_share=0.2, floor=5)
    assert refused.value.removals > 5
    guard(actions, state, max_share=1.0, floor=5)  # an operator's --force equivalent passes


def test_the_guards_refusal_travels_through_context_managers_intact() -> None:
    """contextlib and asyncio assign ``__traceback__``: a frozen exception turned the clear
    refusal into ``FrozenInstanceError`` (seen when a test's sync hit the guard)."""
    refusal = DestructivePlanError(34, 67, 0.2)
    with pytest.raises(DestructivePlanError) as caught, contextlib.suppress(KeyError):
        raise refusal
    caught.value.__traceback__ = None
    assert str(caught.value) == (
        "the plan removes 34 of 67 memberships, more than 20%; check the roster, "
        "or re-run with --force"
    )


def test_a_class_gone_from_the_roster_is_emptied_of_its_members() -> None:
    everyone = frozenset(PEOPLE)
    want = desired(everyone)
    state = apply(EMPTY, plan(want, EMPTY), want)
    without_6a = replace(
        DIARY,
        classes={c: x for c, x in DIARY.classes.items() if not c.startswith("u-6a")},
        enrollments=frozenset(e for e in DIARY.enrollments if not e.class_id.startswith("u-6a")),
    )
    after = desired(everyone, diary=without_6a)
    actions = plan(after, state)
    gone = next(k for k in state.rooms if k.endswith(".class.u-6a"))
    removed = {a.user_id for a in actions if isinstance(a, Remove) and a.room == gone}
    assert removed == set(state.rooms[gone].members)
    assert plan(after, apply(state, actions, after)) == []


def test_every_action_reads_as_one_line() -> None:
    everyone = frozenset(PEOPLE)
    want = desired(everyone)
    state = apply(EMPTY, plan(want, EMPTY), want)
    moved = desired(everyone, diary=move_student(DIARY, SourcedId("u-s3"), SourcedId("u-5b")))
    actions = plan(want, EMPTY) + plan(moved, state)
    kinds = {type(a).__name__ for a in actions}
    assert {"RegisterPuppet", "CreateRoom", "AddChild", "Join", "Remove"} <= kinds
    for action in actions:
        line = describe(action)
        assert line
        assert "\n" not in line


def test_an_adult_on_another_server_is_only_put_in_rooms_that_federate() -> None:
    parent = SourcedId("u-p1")
    remote = UserID("@mama:other.example")
    mixed = {**accounts(), parent: Account(remote, puppet=False)}
    want = resolve(layout_diary(DIARY), mixed, frozenset({parent}), home=SERVER)
    rooms = {k for k, r in want.rooms.items() if remote in r.members}
    assert rooms
    assert all(want.rooms[k].spec.federate for k in rooms)
    assert remote in want.invitees
    assert all(
        isinstance(a, Invite) for a in plan(want, EMPTY) if getattr(a, "user_id", "") == remote
    )


def test_a_school_synced_before_keeps_only_announcements_among_its_spaces_children() -> None:
    """Every room used to be named in the space, so a student's hierarchy showed the staff
    room and every class's chats: the next sync unlists them, once."""
    want = desired(frozenset(PEOPLE))
    state = apply(EMPTY, plan(want, EMPTY), want)
    space = next(k for k, r in want.rooms.items() if r.spec.is_space)
    listed = {room.room_id for key, room in state.rooms.items() if key != space}
    before = replace(
        state, rooms={**state.rooms, space: replace(state.rooms[space], children=frozenset(listed))}
    )
    actions = plan(want, before)
    unlisted = {a.child for a in actions if isinstance(a, RemoveChild)}
    assert unlisted == {
        k for k, r in want.rooms.items() if not r.spec.is_space and not r.spec.listed
    }
    assert {k for k, r in want.rooms.items() if r.spec.listed} == {
        k for k in want.rooms if k.endswith(".announcements")
    }
    after = apply(before, actions, want)
    assert plan(want, after) == []


def _without(diary: Diary, *gone: str) -> Diary:
    return replace(
        diary,
        people={p: x for p, x in diary.people.items() if p not in gone},
        enrollments=frozenset(e for e in diary.enrollments if e.person_id not in gone),
        guardianships=frozenset(
            g for g in diary.guardianships if g.student_id not in gone and g.parent_id not in gone
        ),
    )


def _leaving(diary: Diary, state: Actual, eager: bool = True) -> Desired:
    """What the sync wants once ``diary`` is the roster (the registered puppets as known)."""
    people = {p: a for p, a in accounts().items() if p in diary.people}
    want = resolve(layout_diary(diary), people, frozenset(diary.people), eager)
    left = {accounts()[p].user_id for p in leavers(DIARY, diary)}
    return replace(want, departed=frozenset(left & state.puppets.keys()) - want.puppets.keys())


def test_a_student_who_left_leaves_every_room_and_then_is_switched_off_once() -> None:
    want = desired(frozenset(PEOPLE), eager=True)
    state = apply(EMPTY, plan(want, EMPTY), want)
    gone = user_id("parta.u-s3", SERVER)
    after = _leaving(_without(DIARY, "u-s3"), state)
    actions = plan(after, state)
    assert [a for a in actions if isinstance(a, Deactivate)] == [Deactivate(gone)]
    removals = [a for a in actions if isinstance(a, Remove) and a.user_id == gone]
    assert removals
    assert actions.index(Deactivate(gone)) > max(actions.index(a) for a in removals)
    assert "выбыл" in describe(Deactivate(gone))
    done = apply(state, actions, after)
    assert plan(after, done) == []  # switched off once, not at every sync


def test_a_student_back_in_the_roster_is_switched_on_before_rejoining() -> None:
    want = desired(frozenset(PEOPLE), eager=True)
    state = apply(EMPTY, plan(want, EMPTY), want)
    away = _leaving(_without(DIARY, "u-s3"), state)
    state = apply(state, plan(away, state), away)
    back = _leaving(DIARY, state)
    actions = plan(back, state)
    returner = user_id("parta.u-s3", SERVER)
    assert actions[0] == Reactivate(returner)
    assert any(isinstance(a, Join) and a.user_id == returner for a in actions)
    assert plan(back, apply(state, actions, back)) == []


def test_only_people_of_the_diarys_own_schools_can_leave_it() -> None:
    """A store that served another school's diary: that school's people did not leave."""
    other = small_school("o")
    assert leavers(other, DIARY) == frozenset()
    assert leavers(None, DIARY) == frozenset()
    assert leavers(DIARY, _without(DIARY, "u-s3", "u-p1")) == {"u-s3", "u-p1"}
    parent = SourcedId("u-p1")
    orgless = replace(
        DIARY,
        people={**DIARY.people, parent: replace(DIARY.people[parent], school_ids=frozenset())},
    )
    assert leavers(orgless, _without(DIARY, "u-p1")) == {"u-p1"}  # a parent follows the child


def test_the_guard_refuses_to_switch_off_a_whole_grade() -> None:
    want = desired(frozenset(PEOPLE), eager=True)
    state = apply(EMPTY, plan(want, EMPTY), want)
    students = [p for p in PEOPLE if DIARY.people[p].role.value == "student"]
    after = _leaving(_without(DIARY, *students), state)
    actions = [a for a in plan(after, state) if isinstance(a, Deactivate)]
    assert len(actions) == len(students)
    with pytest.raises(DestructivePlanError) as refused:
        guard(actions, state, max_share=0.2, floor=2)
    assert "accounts" in str(refused.value)


def test_the_school_rooms_carry_their_retention_period_and_a_change_is_one_state_event() -> None:
    year = 548 * 86_400_000
    want = resolve(layout_diary(DIARY), accounts(), frozenset(PEOPLE), True, None, year)
    created = [a for a in plan(want, EMPTY) if isinstance(a, CreateRoom)]
    assert {a.retention_ms for a in created if not a.spec.is_space} == {year}
    assert {a.retention_ms for a in created if a.spec.is_space} == {None}
    body = create_room_body(created[-1].spec, {}, None, SERVER, retention_ms=year)
    assert {"type": "m.room.retention", "state_key": "", "content": {"max_lifetime": year}} in (
        body["initial_state"]
    )
    state = apply(EMPTY, plan(want, EMPTY), want)
    assert plan(want, state) == []
    shorter = resolve(layout_diary(DIARY), accounts(), frozenset(PEOPLE), True, None, year // 2)
    changes = plan(shorter, state)
    assert changes
    assert all(isinstance(a, SetRetention) and a.max_lifetime_ms == year // 2 for a in changes)
    assert len(changes) == sum(not r.spec.is_space for r in want.rooms.values())
    assert "274 дн." in describe(changes[0])
