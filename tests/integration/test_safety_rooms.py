"""The room rule through a real Synapse, the policy module and the bots.

Every member of a room that holds a student must be within that student's circle, whoever
places them there (a teacher, a parent, the bot, an invite link); diary rooms admit only the
diary's members; rooms with students are never open; a student commands no bot and sees in
the space and the user directory only what their circle allows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.diary_sync.safety import (
    DIRECT_NEEDS_ONE,
    DIRECT_NO_POWERS,
    OPEN_ROOM,
    OUTSIDE_CIRCLE,
)
from appservice.school_sync import SchoolSync, SyncOptions
from appservice.server import REFUSED_REASON
from kernel.ids import RoomAlias, RoomID, SourcedId
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack
from tests.integration.test_bots import _bot_messages, _say, _text, _wait_for_bot
from tests.integration.test_safety import Person, refused_with
from tests.school import small_school

pytestmark = pytest.mark.integration

PREFIX = "sr"


def _sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


@pytest.fixture(scope="module")
async def people(stack: SchoolStack, school: SchoolSync) -> AsyncIterator[dict[str, Person]]:
    await school.run(small_school(PREFIX), SyncOptions(eager=True))
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url, timeout=30) as http:
        found = {}
        for local in ("s1", "s2", "s4", "s6", "t1", "t3", "p1", "p2", "p3"):
            user = school.puppet_id(_sid(local))
            found[local] = Person(http, user, await school.client.login_as(user))
        yield found


async def _room(client: MatrixClient, stack: SchoolStack, kind: RoomKind, code: str = "") -> str:
    key = room_key(_sid("org"), kind, _sid(code) if code else "")
    room = await client.resolve_alias(RoomAlias(f"#{key}:{stack.config.server_name}"))
    assert room is not None
    return room


async def _invite(by: Person, room: str, whom: Person) -> httpx.Response:
    return await by.http.post(
        f"/_matrix/client/v3/rooms/{quote(room, safe='')}/invite",
        json={"user_id": whom.user_id},
        headers=by.auth,
    )


async def _members(client: MatrixClient, room: str) -> set[str]:
    return set(await client.joined_members(RoomID(room)))


# -- 1. the bot as a megaphone ----------------------------------------------------------------


async def test_a_direct_chat_needs_one_invitee_and_gives_no_one_power(
    people: dict[str, Person],
) -> None:
    alone = await people["s1"].create(is_direct=True, preset="trusted_private_chat")
    assert refused_with(alone, DIRECT_NEEDS_ONE)
    everyone_moderates = await people["s1"].create(
        is_direct=True,
        invite=[people["s2"].user_id],
        preset="trusted_private_chat",
        power_level_content_override={"users_default": 100},
    )
    assert refused_with(everyone_moderates, DIRECT_NO_POWERS)


async def _club(stack: SchoolStack, client: MatrixClient, school: SchoolSync, name: str) -> str:
    """A teacher-made chat of 5А's class teacher: its invite link's token."""
    klass = await _room(client, stack, RoomKind.CLASS, "5a")
    await _say(client, school.puppet_id(_sid("t1")), klass, f"!чат {name} для всех")
    reply = await _wait_for_bot(client, klass, school.bot, f"Чат «{name}» создан")
    return reply.rsplit("/", 1)[-1]


async def _join_by_link(stack: SchoolStack, token: str, who: Person, role: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{stack.config.bots_url}/_parta/v1/invites/{token}/join",
            json={"user_id": who.user_id, "role": role},
            headers={
                "Authorization": f"Bearer {stack.config.invite_token_file.read_text().strip()}"
            },
        )


async def test_a_student_made_moderator_cannot_make_the_bot_create_chats_or_set_homework(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync, people: dict[str, Person]
) -> None:
    token = await _club(stack, client, school, "Шахматы")
    joined = await _join_by_link(stack, token, people["s1"], "student")
    assert joined.status_code == 200, joined.text
    club = RoomID(joined.json()["room_id"])
    levels = await client.state_event(club, "m.room.power_levels")
    users = {**levels["users"], people["s1"].user_id: 100}  # power, however she came by it
    await client.send_state(club, "m.room.power_levels", {**levels, "users": users})
    await _say(client, people["s1"].user_id, club, "!чат Только для своих для всех")
    refusal = await _wait_for_bot(client, club, school.bot, "Создавать чаты могут")
    assert "учителя и администрация" in refusal
    await _say(client, people["s1"].user_id, club, "!дз Списать у соседа")
    await _wait_for_bot(client, club, school.bot, "Задавать домашние задания могут")
    said = [_text(e) for e in await _bot_messages(client, club, school.bot)]
    assert not any(t.startswith(("Чат «Только", "Домашнее задание:")) for t in said), said


async def test_a_command_where_the_bot_is_not_stops_nothing_else(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync, people: dict[str, Person]
) -> None:
    made = await people["s1"].dm(people["s2"])  # the bot is not in it and cannot answer
    assert made.status_code == 200, made.text
    await _say(client, people["s1"].user_id, made.json()["room_id"], "!чат Тайный")
    await _club(stack, client, school, "Театр")  # the next command is still served


async def test_the_bots_invites_keep_to_every_students_circle(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync, people: dict[str, Person]
) -> None:
    token = await _club(stack, client, school, "Кружок робототехники")
    joined = await _join_by_link(stack, token, people["s1"], "student")
    assert joined.status_code == 200, joined.text
    chat = joined.json()["room_id"]
    stranger = await _join_by_link(stack, token, people["p3"], "parent")  # 6А's parent
    assert stranger.status_code == 403
    assert stranger.json()["reason"] == OUTSIDE_CIRCLE
    assert (await _join_by_link(stack, token, people["t3"], "teacher")).status_code == 200
    other_class = await _join_by_link(stack, token, people["s4"], "student")  # a teacher is in
    assert other_class.status_code == 200, other_class.text
    assert people["p3"].user_id not in await _members(client, chat)


# -- 2. adults next to students --------------------------------------------------------------


async def test_a_diary_room_admits_only_its_members_whatever_the_invite(
    stack: SchoolStack, client: MatrixClient, people: dict[str, Person]
) -> None:
    klass = await _room(client, stack, RoomKind.CLASS, "5a")
    invited = await _invite(people["t1"], klass, people["p3"])  # the class teacher invites
    assert refused_with(invited, REFUSED_REASON)
    assert (await people["p3"].join(klass)).status_code == 403
    assert people["p3"].user_id not in await _members(client, klass)


async def test_a_parent_cannot_bring_other_adults_next_to_her_child(
    people: dict[str, Person],
) -> None:
    made = await people["p1"].create(name="Семья", invite=[people["s1"].user_id])
    assert made.status_code == 200, made.text
    room = made.json()["room_id"]
    for stranger in ("p3", "p2"):  # another class's parent; a classmate's parent
        assert refused_with(await _invite(people["p1"], room, people[stranger]), OUTSIDE_CIRCLE)
    assert (await _invite(people["p1"], room, people["t3"])).status_code == 200


async def test_an_adult_joins_no_room_of_a_student_outside_her_circle(
    people: dict[str, Person], client: MatrixClient
) -> None:
    made = await people["t1"].create(name="Проект", invite=[people["s1"].user_id])
    assert made.status_code == 200, made.text
    room = made.json()["room_id"]
    assert (await _invite(people["t1"], room, people["p3"])).status_code == 403
    joined = await people["p3"].join(room)
    assert joined.status_code == 403
    assert people["p3"].user_id not in await _members(client, room)


async def test_rooms_with_students_are_never_public(people: dict[str, Person]) -> None:
    public_dm = await people["s1"].create(
        is_direct=True, invite=[people["s2"].user_id], preset="public_chat"
    )
    assert refused_with(public_dm, OPEN_ROOM)
    made = await people["t1"].dm(people["s1"])
    assert made.status_code == 200, made.text
    room = quote(made.json()["room_id"], safe="")
    for kind, content in (
        ("m.room.join_rules", {"join_rule": "public"}),
        ("m.room.join_rules", {"join_rule": "knock"}),
        ("m.room.history_visibility", {"history_visibility": "world_readable"}),
    ):
        opened = await people["t1"].http.put(
            f"/_matrix/client/v3/rooms/{room}/state/{kind}",
            json=content,
            headers=people["t1"].auth,
        )
        assert refused_with(opened, OPEN_ROOM), (kind, opened.text)


# -- 4. what a student sees of the school ----------------------------------------------------


async def test_a_student_sees_in_the_space_only_rooms_she_may_join(
    stack: SchoolStack, client: MatrixClient, people: dict[str, Person]
) -> None:
    space = quote(await _room(client, stack, RoomKind.SPACE), safe="")
    answer = await people["s1"].http.get(
        f"/_matrix/client/v1/rooms/{space}/hierarchy", headers=people["s1"].auth
    )
    assert answer.status_code == 200, answer.text
    names = {r.get("name") for r in answer.json()["rooms"]}
    assert names >= {"Объявления"}, names
    hidden = {"Учительская", "5Б — класс", "6А — класс", "5А — родители", "Родители — вся школа"}
    assert not names & hidden, names


async def _search(who: Person, term: str) -> set[str]:
    answer = await who.http.post(
        "/_matrix/client/v3/user_directory/search",
        json={"search_term": term, "limit": 50},
        headers=who.auth,
    )
    assert answer.status_code == 200, answer.text
    return {r["user_id"] for r in answer.json()["results"]}


async def _until_found(who: Person, term: str, expected: str) -> set[str]:
    """The directory is filled in the background: wait until a positive control appears."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await _search(who, term)
        if expected in found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{expected} never appeared in the directory for {who.user_id}")


async def test_the_user_directory_shows_a_student_only_her_circle_and_hides_her_from_others(
    people: dict[str, Person],
) -> None:
    """Every small school of the test session has the same names: the searches name one person
    each, so the homeserver's result limit (it filters after taking the first N) never hides
    the one expected."""
    parent = await _until_found(people["s1"], "Родитель-p1", people["p1"].user_id)  # her own
    assert people["p1"].user_id in parent
    assert people["p3"].user_id not in await _search(people["s1"], "Родитель-p3")
    assert people["p2"].user_id not in await _search(people["s1"], "Родитель-p2")
    await _until_found(people["p3"], "Ученик5", people["s6"].user_id)  # her own child
    for other in ("s1", "s2", "s4"):
        family = {"s1": "Ученик0", "s2": "Ученик1", "s4": "Ученик3"}[other]
        assert people[other].user_id not in await _search(people["p3"], family)
    await _until_found(people["s1"], "Ученик1", people["s2"].user_id)  # a classmate
    assert people["s4"].user_id not in await _search(people["s1"], "Ученик3")  # another class
    await _until_found(people["p3"], "Учитель-t3", people["t3"].user_id)  # adults find staff
