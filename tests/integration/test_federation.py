"""Two schools, two real homeservers federating: teachers talk, children stay home."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.diary_sync.safety import FEDERATED_ROOM
from appservice.region_sync import NETWORK_KEY
from call_bridge.chat import NOT_MIRRORED
from call_bridge.identity import (
    FederationEndpoint,
    IdentityRefused,
    OpenIdToken,
    OpenIdVerifier,
)
from call_bridge.matrix_room import CHAT_FIELD
from kernel.ids import ServerName, SourcedId, user_id
from parta.bench.call_peer import CallPeer, Refused, place, until
from parta.stack import SchoolStack
from tests.integration.region import Member, provision, running_region
from tests.school import small_school

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SchoolStack, SchoolStack]]:
    with running_region(Path(tmp_path_factory.mktemp("region"))) as stacks:
        yield stacks


@pytest.fixture(scope="module")
async def members(region: tuple[SchoolStack, SchoolStack]) -> AsyncIterator[dict[str, Member]]:
    a, b = region
    await provision(a, small_school("fa"))
    await provision(b, small_school("fb"))
    async with (
        httpx.AsyncClient(base_url=a.config.homeserver_url) as on_a,
        httpx.AsyncClient(base_url=b.config.homeserver_url) as on_b,
    ):
        yield {
            "a_teacher": await Member.of(a, "fa-t1", on_a),
            "a_student": await Member.of(a, "fa-s1", on_a),
            "b_teacher": await Member.of(b, "fb-t1", on_b),
        }


@pytest.fixture(scope="module")
def bridge_of_a(region: tuple[SchoolStack, SchoolStack]) -> SchoolStack:
    """School A's call bridge, started once for the module's calls."""
    a, _ = region
    if a.bridge is None:
        a.start_bridge()
    return a


async def shared_room(members: dict[str, Member], name: str) -> str:
    """A methodology chat made by school A's teacher, joined by school B's."""
    made = await members["a_teacher"].call(
        "POST", "/createRoom", {"name": name, "invite": [members["b_teacher"].user_id]}
    )
    assert made.status_code == 200, made.text
    room = str(made.json()["room_id"])
    await members["b_teacher"].wait_for_invite(room)
    joined = await members["b_teacher"].call("POST", f"/join/{room}", {})
    assert joined.status_code == 200, joined.text
    return room


async def test_a_message_between_teachers_of_two_schools_arrives_both_ways(
    members: dict[str, Member],
) -> None:
    room = await shared_room(members, "Методическое объединение математиков")
    await members["a_teacher"].send(room, "Коллеги, план семинара в пятницу")
    await members["b_teacher"].wait_for(room, "Коллеги, план семинара в пятницу")
    await members["b_teacher"].send(room, "Спасибо, будем")
    await members["a_teacher"].wait_for(room, "Спасибо, будем")


async def test_a_remote_invite_to_a_student_is_refused_with_the_modules_reason(
    members: dict[str, Member],
) -> None:
    made = await members["b_teacher"].call("POST", "/createRoom", {"name": "Кружок"})
    room = made.json()["room_id"]
    invite = await members["b_teacher"].call(
        "POST", f"/rooms/{room}/invite", {"user_id": members["a_student"].user_id}
    )
    assert invite.status_code == 403, invite.text
    assert invite.json()["error"] == FEDERATED_ROOM  # school A's module, across federation
    direct = await members["b_teacher"].call(
        "POST", "/createRoom", {"is_direct": True, "invite": [members["a_student"].user_id]}
    )
    assert direct.status_code == 403, direct.text
    assert direct.json()["error"] == FEDERATED_ROOM
    data = await members["a_student"].sync(wait_ms=0)
    assert not data.get("rooms", {}).get("invite")


async def test_the_teachers_space_is_seen_from_the_other_school_without_minors(
    region: tuple[SchoolStack, SchoolStack], members: dict[str, Member]
) -> None:
    a, _ = region
    host = a.config.server_name
    alias = f"#{NETWORK_KEY}:{host}".replace("#", "%23")
    found = await members["b_teacher"].call("GET", f"/directory/room/{alias}")
    assert found.status_code == 200, found.text
    space = found.json()["room_id"]
    hierarchy = await members["b_teacher"].http.get(
        f"/_matrix/client/v1/rooms/{space}/hierarchy",
        params={"org.matrix.msc4235.via": host},
        headers=members["b_teacher"].auth,
    )
    assert hierarchy.status_code == 200, hierarchy.text
    names = sorted(r.get("name", "") for r in hierarchy.json()["rooms"])
    assert names == ["Сеть учителей региона", "Сеть учителей: Школа fa", "Сеть учителей: Школа fb"]
    store = a.open_store()
    try:
        minors = {
            room_id
            for key, room_id in store.room_ids().items()
            if any(
                key.startswith(str(room_key(SourcedId("fa-org"), kind)))
                for kind in RoomKind
                if kind.holds_minors
            )
        }
    finally:
        store.close()
    assert minors
    assert not minors & {r["room_id"] for r in hierarchy.json()["rooms"]}


async def test_a_student_is_invisible_from_the_other_school(
    region: tuple[SchoolStack, SchoolStack], members: dict[str, Member]
) -> None:
    a, _ = region
    search = await members["b_teacher"].call(
        "POST", "/user_directory/search", {"search_term": "Ученик0"}
    )
    assert search.status_code == 200
    assert not [u for u in search.json()["results"] if u["user_id"].endswith(a.config.server_name)]
    school_space = f"#{room_key(SourcedId('fa-org'), RoomKind.SPACE)}:{a.config.server_name}"
    peek = await members["b_teacher"].call(
        "GET", f"/directory/room/{school_space.replace('#', '%23')}"
    )
    # The alias may resolve (to a bare id); the space itself must stay closed to B.
    assert peek.status_code == 200, peek.text
    hierarchy = await members["b_teacher"].http.get(
        f"/_matrix/client/v1/rooms/{peek.json()['room_id']}/hierarchy",
        params={"org.matrix.msc4235.via": a.config.server_name},
        headers=members["b_teacher"].auth,
    )
    assert hierarchy.status_code in (403, 404), hierarchy.text
    join = await members["b_teacher"].call("POST", f"/join/{school_space.replace('#', '%23')}", {})
    assert join.status_code == 403, join.text


async def test_a_restarted_school_catches_up_within_seconds(
    region: tuple[SchoolStack, SchoolStack], members: dict[str, Member]
) -> None:
    a, _ = region
    room = await shared_room(members, "Семинар завучей")
    assert a.synapse is not None
    a.synapse.stop()
    await members["b_teacher"].send(room, "Пока вас не было")
    a.synapse.start()
    a.synapse.wait_ready()
    waited = await members["a_teacher"].wait_for(room, "Пока вас не было", deadline_s=60)
    print(f"caught up {waited:.1f}s after the restart")  # a figure, not a check


async def test_a_teacher_of_school_b_is_vouched_for_by_school_b_to_school_a_s_bridge(
    region: tuple[SchoolStack, SchoolStack], members: dict[str, Member]
) -> None:
    """The identity half of a cross-school seminar call (the call itself is the calls issue)."""
    a, b = region
    assert a.rendered is not None
    assert b.rendered is not None
    endpoints = {
        s.config.server_name: FederationEndpoint(
            str(s.rendered.federation_url),
            ssl.create_default_context(cafile=str(s.rendered.layout.tls_certificate)),
        )
        for s in (a, b)
        if s.rendered is not None
    }
    bridge_of_a = OpenIdVerifier(endpoints)
    teacher = members["b_teacher"]
    minted = await teacher.call("POST", f"/user/{teacher.user_id}/openid/request_token", {})
    assert minted.status_code == 200, minted.text
    token = OpenIdToken.from_json(minted.json())
    assert token.matrix_server_name == b.config.server_name
    assert await bridge_of_a.user_of(token) == teacher.user_id
    with pytest.raises(IdentityRefused, match="недействителен"):
        await bridge_of_a.user_of(OpenIdToken("forged-token", b.config.server_name))
    with pytest.raises(IdentityRefused, match="недействителен"):  # B's token is nothing to A
        await bridge_of_a.user_of(OpenIdToken(token.access_token, a.config.server_name))
    with pytest.raises(IdentityRefused, match="не входит в сеть"):
        await bridge_of_a.user_of(OpenIdToken(token.access_token, "evil.example"))


async def _openid(member: Member) -> dict[str, str]:
    minted = await member.call("POST", f"/user/{member.user_id}/openid/request_token", {})
    assert minted.status_code == 200, minted.text
    body: dict[str, str] = minted.json()
    return body


async def test_a_teacher_of_school_b_joins_a_seminar_call_on_school_a_s_bridge(
    bridge_of_a: SchoolStack, members: dict[str, Member]
) -> None:
    """D7: school A's bridge asks school B's server who the guest is, then A's own server
    whether that account is in the seminar's room; both decode each other's camera."""
    a = bridge_of_a
    room = await shared_room(members, "Семинар: подготовка к олимпиаде")
    call = f"room/{room}"
    ws_url, _ = await place(a, call)
    host = CallPeer(ws_url, call, await _openid(members["a_teacher"]))
    guest = CallPeer(ws_url, call, await _openid(members["b_teacher"]))
    try:
        assert (await host.join())["moderator"] is True  # the room's creator
        await host.publish(shade=210)
        welcome = await guest.join()
        assert welcome["moderator"] is False
        await guest.publish(shade=40)
        host_id, guest_id = host.welcome["you"], welcome["you"]

        def both() -> bool:
            seen, shown = guest.video_from(host_id), host.video_from(guest_id)
            return bool(seen and shown and len(seen.shades) >= 2 and len(shown.shades) >= 2)

        await until(both)
        from_host, from_guest = guest.video_from(host_id), host.video_from(guest_id)
        assert from_host is not None
        assert from_guest is not None
        assert all(abs(s - 210) < 12 for s in from_host.shades)
        assert all(abs(s - 40) < 12 for s in from_guest.shades)
        users = {p["user"] for p in host.participants}
        assert users == {members["a_teacher"].user_id, members["b_teacher"].user_id}
        with pytest.raises(Refused, match="не участник"):  # a student of A: not in the room
            await CallPeer(ws_url, call, await _openid(members["a_student"])).join()
    finally:
        await guest.close()
        await host.close()


async def _bodies(member: Member, room: str) -> list[dict[str, Any]]:
    answer = await member.call("GET", f"/rooms/{room}/messages?dir=b&limit=50")
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["chunk"]
    return [e for e in events if e["type"] == "m.room.message"]


async def test_a_guest_s_call_chat_is_said_by_the_bot_under_their_matrix_id_while_they_may_speak(
    bridge_of_a: SchoolStack, members: dict[str, Member]
) -> None:
    """School A cannot post as school B's teacher: A's bot says the guest's line, opened by
    the guest's Matrix id (no display name can imitate it), after the room's power levels
    for ``m.room.message`` — and a bot that may speak there lends that to nobody."""
    a, host_member, guest_member = bridge_of_a, members["a_teacher"], members["b_teacher"]
    bot = user_id(a.config.appservice.bot_localpart, ServerName(a.config.server_name))
    room = await shared_room(members, "Семинар: чат звонка")
    call = f"room/{room}"
    ws_url, _ = await place(a, call)
    host = CallPeer(ws_url, call, await _openid(host_member))
    guest = CallPeer(ws_url, call, await _openid(guest_member))
    try:
        await host.join()  # A's bot is asked into the people's room by its host
        await host.publish(shade=None)
        assert (await guest.join())["chat_mirrored"] is True
        await guest.publish(shade=None)
        await guest.say({"type": "chat", "text": "Коллеги, добрый день"})
        line = f"{guest_member.user_id} (из звонка): Коллеги, добрый день"
        await host_member.wait_for(room, line)
        said = [e for e in await _bodies(host_member, room) if e["content"].get("body") == line]
        assert [e["sender"] for e in said] == [bot]
        assert said[0]["content"][CHAT_FIELD] == {"sender": guest_member.user_id}

        path = f"/rooms/{room}/state/m.room.power_levels/"
        levels = (await host_member.call("GET", path)).json()
        levels["users"] = {**levels.get("users", {}), bot: 50}  # the bot may speak, the guest not
        levels["events_default"] = 50
        assert (await host_member.call("PUT", path, levels)).status_code == 200
        await guest.say({"type": "chat", "text": "Можно мне слово?"})
        await until(lambda: any(m.get("reason") == NOT_MIRRORED for m in guest.messages))
        await host.say({"type": "chat", "text": "Слово за школой А"})  # the host's still goes
        await host_member.wait_for(room, "Слово за школой А")
        bodies = [str(e["content"].get("body")) for e in await _bodies(host_member, room)]
        assert not any("Можно мне слово?" in b for b in bodies)
        assert any(m.get("text") == "Можно мне слово?" for m in host.messages)  # in the call
    finally:
        await guest.close()
        await host.close()
