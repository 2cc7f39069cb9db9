"""The appservice's HTTP side, spoken to the way Synapse speaks to it."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import pytest

from appservice.school_sync import SyncOptions
from appservice.store import Store
from kernel.matrix import MatrixClient
from kernel.secrets import read_secret_file
from parta.stack import SchoolStack
from tests.school import small_school

pytestmark = pytest.mark.integration


def _put(stack: SchoolStack, txn: str, body: object, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{stack.config.appservice_url}/_matrix/app/v1/transactions/{txn}"
    return httpx.put(url, json=body, headers=headers)


def _event(n: int) -> dict[str, object]:
    return {
        "event_id": f"$replay-{n}",
        "room_id": "!room:test",
        "type": "m.room.message",
        "sender": "@someone:test",
        "content": {"body": f"сообщение {n}"},
    }


def test_a_replayed_transaction_changes_nothing(stack: SchoolStack, store: Store) -> None:
    token = read_secret_file(stack.config.hs_token_file)
    body = {"events": [_event(1), _event(2)]}
    before = store.event_count(), store.transaction_count()
    assert _put(stack, "replay-1", body, token).status_code == 200
    middle = store.event_count(), store.transaction_count()
    assert middle == (before[0] + 2, before[1] + 1)
    assert _put(stack, "replay-1", body, token).status_code == 200
    assert (store.event_count(), store.transaction_count()) == middle


def test_one_bad_event_does_not_fail_the_transaction(stack: SchoolStack, store: Store) -> None:
    token = read_secret_file(stack.config.hs_token_file)
    before = store.event_count()
    body = {"events": [_event(10), {"type": "no id"}, "not even an object", _event(11)]}
    assert _put(stack, "mixed-1", body, token).status_code == 200
    assert store.event_count() == before + 2


@pytest.mark.parametrize(
    ("token", "status", "errcode"),
    [(None, 401, "M_UNAUTHORIZED"), ("wrong-token-wrong-token", 403, "M_FORBIDDEN")],
)
def test_a_missing_or_forged_hs_token_is_refused(
    stack: SchoolStack, store: Store, token: str | None, status: int, errcode: str
) -> None:
    before = store.transaction_count()
    response = _put(stack, "forged-1", {"events": [_event(20)]}, token)
    assert (response.status_code, response.json()["errcode"]) == (status, errcode)
    assert store.transaction_count() == before


def test_alias_queries_are_answered_404_at_once(stack: SchoolStack) -> None:
    token = read_secret_file(stack.config.hs_token_file)
    url = f"{stack.config.appservice_url}/_matrix/app/v1/rooms/%23parta.x:test"
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


async def test_synapse_delivers_its_events_to_the_appservice(
    stack: SchoolStack, store: Store
) -> None:
    client = MatrixClient(stack.config.homeserver_url, read_secret_file(stack.config.as_token_file))
    before = store.event_count()
    await stack.school_sync(client, store).run(small_school("echo"), SyncOptions())
    await client.aclose()
    # Synapse pushes asynchronously: wait for it by polling the store, bounded.
    for _ in range(200):
        if store.event_count() > before:
            break
        await asyncio.sleep(0.05)
    assert store.event_count() > before


async def test_user_queries_know_the_puppets_and_nobody_else(stack: SchoolStack) -> None:
    client = MatrixClient(stack.config.homeserver_url, read_secret_file(stack.config.as_token_file))
    store = stack.open_store()
    school = stack.school_sync(client, store)
    await school.run(small_school("who"), SyncOptions())
    await client.aclose()
    store.close()
    token = read_secret_file(stack.config.hs_token_file)
    base = f"{stack.config.appservice_url}/_matrix/app/v1/users/"
    auth = {"Authorization": f"Bearer {token}"}
    teacher = next(p for p, x in small_school("who").people.items() if x.role.is_staff)
    async with httpx.AsyncClient(headers=auth) as http:
        assert (await http.get(base + school.puppet_id(teacher))).status_code == 200
        assert (await http.get(base + "@parta.nobody:test")).status_code == 404


def _raw(stack: SchoolStack, head: str, sent_body: bytes) -> bytes:
    """Headers announcing a big body, a little of it, then whatever the appservice says
    before the rest would arrive (it never does: a server that waits for it times out)."""
    with socket.create_connection(("127.0.0.1", stack.config.appservice.port), timeout=10) as s:
        s.sendall(head.encode() + b"\r\n" + sent_body)
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        return answer


BIG = 200 * 1024 * 1024


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        ("/_matrix/app/v1/transactions/big-1", "", b"401"),
        ("/_matrix/app/v1/transactions/big-2", "Authorization: Bearer forged\r\n", b"403"),
        ("/_parta/v1/may_enter", "", b"401"),
        ("/_parta/v1/link", "", b"401"),
        ("/_parta/v1/commands", "", b"401"),
        ("/anything/else", "", b"404"),
    ],
)
def test_a_request_without_its_token_is_refused_before_its_body_is_read(
    stack: SchoolStack, path: str, authorization: str, status: bytes
) -> None:
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: appservice\r\n{authorization}"
        f"Content-Type: application/json\r\nContent-Length: {BIG}\r\n"
    )
    answer = _raw(stack, head, b"{" + b" " * 65536)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]


def test_a_body_over_the_cap_is_refused_on_its_length_or_as_it_grows(stack: SchoolStack) -> None:
    token = read_secret_file(stack.config.hs_token_file)
    head = (
        f"PUT /_matrix/app/v1/transactions/huge-1 HTTP/1.1\r\nHost: appservice\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {BIG}\r\n"
    )
    assert _raw(stack, head, b"{").startswith(b"HTTP/1.1 413")
    chunked = (
        f"POST /_parta/v1/may_enter HTTP/1.1\r\nHost: appservice\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n"
    )
    chunk = b" " * (1024 * 1024)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))  # 5 MiB > 4 MiB
    assert _raw(stack, chunked, body).startswith(b"HTTP/1.1 413")
    assert _put(stack, "after-huge", {"events": []}, token).status_code == 200  # still serving
