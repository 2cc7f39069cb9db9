"""The one Matrix client: errcodes become types, transient failures are retried as told,
and room version 12's creators outrank every power level."""

from __future__ import annotations

import httpx
import pytest

from kernel.ids import RoomID, UserID
from kernel.matrix import (
    Forbidden,
    HomeserverUnreachable,
    LimitExceeded,
    MatrixClient,
    MatrixError,
    MatrixFailure,
    NotFound,
    PowerLevels,
    RoomInUse,
    UnknownToken,
    UserInUse,
)
from kernel.matrix.power import CREATOR


class Homeserver:
    """Answers from a script, one answer a request, and remembers what it was asked."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(server: Homeserver, slept: list[float] | None = None) -> MatrixClient:
    async def sleep(seconds: float) -> None:
        (slept if slept is not None else []).append(seconds)

    return MatrixClient(
        "http://hs.test", "token", sleep=sleep, transport=httpx.MockTransport(server)
    )


def error(status: int, errcode: str = "", **extra: object) -> httpx.Response:
    body = {"errcode": errcode, "error": "why", **extra} if errcode else {}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (error(403, "M_FORBIDDEN"), Forbidden),
        (error(404, "M_NOT_FOUND"), NotFound),
        (error(404), NotFound),
        (error(404, "M_UNKNOWN"), NotFound),  # Synapse: "No row found (profiles)"
        (error(400, "M_USER_IN_USE"), UserInUse),
        (error(400, "M_ROOM_IN_USE"), RoomInUse),
        (error(401, "M_UNKNOWN_TOKEN"), UnknownToken),
        (error(400, "M_BAD_JSON"), MatrixError),
    ],
)
async def test_each_errcode_is_its_own_type_and_is_not_retried(
    answer: httpx.Response, kind: type[MatrixError]
) -> None:
    server = Homeserver(answer)
    async with client(server) as matrix:
        with pytest.raises(kind) as raised:
            await matrix.request("GET", "/x")
    assert type(raised.value) is kind
    assert not raised.value.transient
    assert len(server.asked) == 1


async def test_a_rate_limit_is_waited_out_as_the_homeserver_says_then_a_5xx_with_backoff() -> None:
    slept: list[float] = []
    server = Homeserver(
        error(429, "M_LIMIT_EXCEEDED", retry_after_ms=1500),
        error(502),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"ok": True}),
    )
    async with client(server, slept) as matrix:
        assert await matrix.request("GET", "/x") == {"ok": True}
    assert slept[0] == 1.5
    assert slept[1] < slept[2]  # backoff grows
    assert matrix.requests == 4


async def test_retries_end_and_the_last_failure_is_raised() -> None:
    server = Homeserver(*(httpx.ConnectError("refused") for _ in range(5)))
    async with client(server) as matrix:
        with pytest.raises(HomeserverUnreachable):
            await matrix.request("GET", "/x")
    assert len(server.asked) == 5


async def test_masquerading_adds_user_id_and_ids_are_quoted_as_one_segment() -> None:
    server = Homeserver(httpx.Response(200, json={"event_id": "$e"}))
    async with client(server) as matrix:
        sent = await matrix.send_message(
            RoomID("!a/b:hs"), {"body": "x"}, "t 1", as_user=UserID("@p:hs")
        )
    assert sent == "$e"
    asked = server.asked[0]
    assert asked.url.raw_path.startswith(
        b"/_matrix/client/v3/rooms/%21a%2Fb%3Ahs/send/m.room.message/t%201"
    )
    assert asked.url.params["user_id"] == "@p:hs"


async def test_a_rate_limit_without_an_errcode_is_still_a_rate_limit() -> None:
    server = Homeserver(*(httpx.Response(429, json={}) for _ in range(5)))
    async with client(server) as matrix:
        with pytest.raises(LimitExceeded):
            await matrix.request("GET", "/x")


CREATE_V12 = {
    "sender": "@bot:hs",
    "content": {"room_version": "12", "additional_creators": ["@co:hs"]},
}


@pytest.mark.parametrize(
    ("user", "create", "power"),
    [
        ("@bot:hs", CREATE_V12, CREATOR),  # the creator is not listed, and outranks all
        ("@co:hs", CREATE_V12, CREATOR),
        ("@teacher:hs", CREATE_V12, 80),
        ("@pupil:hs", CREATE_V12, 0),
        ("@bot:hs", {"sender": "@bot:hs", "content": {"room_version": "11"}}, 0),
        ("@bot:hs", None, 0),
    ],
)
def test_power_counts_room_v12_creators(
    user: str, create: dict[str, object] | None, power: int
) -> None:
    levels = PowerLevels.of({"users": {"@teacher:hs": 80}, "users_default": 0}, create)
    assert levels.of_user(user) == power


def test_who_may_send_a_message_follows_events_then_events_default() -> None:
    levels = PowerLevels.of(
        {"users": {"@t:hs": 60}, "events_default": 0, "events": {"m.room.message": 60}},
        CREATE_V12,
    )
    assert levels.may_send("@t:hs", "m.room.message")
    assert not levels.may_send("@pupil:hs", "m.room.message")
    assert levels.may_send("@pupil:hs", "m.reaction")
    assert not levels.may_send("@pupil:hs", "m.room.topic", state=True)  # state_default 50
    assert levels.may_send("@bot:hs", "m.room.power_levels", state=True)


async def test_a_restricted_join_nobody_can_grant_yet_is_tried_again() -> None:
    """Seen in the multi-worker converge: a join right after the room was made answered
    «M_UNABLE_TO_GRANT_JOIN» (the worker did not see the room's members yet); a moment later
    the same join goes through."""
    server = Homeserver(
        error(400, "M_UNABLE_TO_GRANT_JOIN"),
        httpx.Response(200, json={"room_id": "!r:s"}),
    )
    slept: list[float] = []
    joined = await client(server, slept).join("!r:s", UserID("@t:s"))
    assert joined == "!r:s"
    assert len(server.asked) == 2
    assert slept == [0.4]


async def test_a_restricted_join_waits_for_a_slow_worker_longer_than_other_errors() -> None:
    """The converge's sync once failed four joins after five tries (6 s): a worker under load
    took longer to see the room's members. Other transient errors still stop at five."""
    slow = Homeserver(
        *[error(400, "M_UNABLE_TO_GRANT_JOIN") for _ in range(9)],
        httpx.Response(200, json={"room_id": "!r:s"}),
    )
    slept: list[float] = []
    assert await client(slow, slept).join("!r:s", UserID("@t:s")) == "!r:s"
    assert len(slow.asked) == 10
    assert slept[:4] == [0.4, 0.8, 1.6, 3.2]
    assert max(slept) == 5.0
    busy = Homeserver(*[error(502) for _ in range(9)])
    with pytest.raises(MatrixFailure):
        await client(busy, []).join("!r:s", UserID("@t:s"))
    assert len(busy.asked) == 5


async def test_a_homeserver_that_restarts_is_waited_for_when_the_caller_allows_an_outage() -> None:
    down = [httpx.ConnectError("refused") for _ in range(12)]
    server = Homeserver(*down, httpx.Response(200, json={"user_id": "@a:hs.test"}))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    patient = MatrixClient(
        "http://hs.test", "t", outage_s=60, sleep=sleep, transport=httpx.MockTransport(server)
    )
    assert await patient.whoami() == UserID("@a:hs.test")
    assert len(server.asked) == 13  # past the five attempts of a hiccup
    assert max(slept) <= 5.0  # backing off, capped


async def test_without_an_outage_allowance_a_silent_homeserver_fails_after_five_tries() -> None:
    server = Homeserver(*[httpx.ConnectError("refused") for _ in range(5)])
    with pytest.raises(HomeserverUnreachable):
        await client(server).whoami()
    assert len(server.asked) == 5
