"""The appservice's internal API for the diary and the bots, both sides of it.

::

    diary ──POST /_parta/v1/link LinkRequest──▶ Linked          (link token; a refusal is a
                                                                  403 with its reason)
    bots  ──GET /_parta/v1/commands?since=<ms>──▶ CommandsPage   (bots token)
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import Field

from kernel.contracts.base import ApiError, Message, call

LINK_PATH = "/_parta/v1/link"
COMMANDS_PATH = "/_parta/v1/commands"
READERS_PATH = "/_parta/v1/readers"
LAST_SYNC_PATH = "/_parta/v1/last-sync"


class LinkRequest(Message):
    person_id: str
    user_id: str | None = None
    """An adult's own account elsewhere; none: the school makes one."""


class Linked(Message):
    user_id: str
    rooms: list[str]
    """The rooms the account is in (or invited to) now."""
    actions: int
    failed: list[str]


class ReceivedCommand(Message):
    received_ms: int
    event: dict[str, Any]
    sender_role: str | None
    """The sender's role in the roster: the bots decide who may command them by it."""
    moderation_room: str | None = None
    """For a report of a message: the school's «Модерация», where the bots post it."""


class ReadersAnswer(Message):
    """Who of the room's members when a message was sent has read it, and who not yet."""

    sender: str
    read: list[str]
    unread: list[str]


class LastSync(Message):
    """The last whole-school sync applied (by ``parta sync`` or a linking's first run)."""

    finished_s: float
    """When it ended (Unix seconds)."""
    actions: int
    failed: int
    total_s: float
    people: int = 0
    kinds: dict[str, int] = Field(default_factory=dict)
    """Actions by kind (``Join``: 12, ``CreateRoom``: 3)."""
    problems: list[str] = Field(default_factory=list)
    """The first refused actions, each with its reason (a re-run retries them)."""


class CommandsPage(Message):
    events: list[ReceivedCommand]
    next: int
    """The cursor for the next call (inclusive: a command may come twice)."""


async def link(
    url: str,
    token: str,
    asked: LinkRequest,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Linked:
    """Linking joins a person to all their rooms: it may take minutes in a big school."""
    target = url.rstrip("/") + LINK_PATH
    return await call("POST", target, token, Linked, body=asked, wait_s=300, transport=transport)


async def commands_since(
    url: str, token: str, since: str, transport: httpx.AsyncBaseTransport | None = None
) -> CommandsPage:
    target = url.rstrip("/") + COMMANDS_PATH
    return await call(
        "GET", target, token, CommandsPage, params={"since": since}, transport=transport
    )


async def readers(
    url: str,
    token: str,
    room_id: str,
    event_id: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ReadersAnswer:
    """With the diary's token (the link token): the diary asks for a member of staff."""
    target = url.rstrip("/") + READERS_PATH
    params = {"room": room_id, "event": event_id}
    return await call("GET", target, token, ReadersAnswer, params=params, transport=transport)


async def last_sync(
    url: str, token: str, transport: httpx.AsyncBaseTransport | None = None
) -> LastSync | None:
    """With the diary's token: the status page's «Последняя синхронизация» (None: never)."""
    target = url.rstrip("/") + LAST_SYNC_PATH
    try:
        return await call("GET", target, token, LastSync, transport=transport)
    except ApiError as e:
        if e.status == 404:
            return None
        raise
