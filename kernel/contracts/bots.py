"""The bots' API for the diary, both sides of it (the invite token).

::

    diary ──GET  /_parta/v1/invites/<token>────────────▶ InviteInfo (404: no such link)
          ──POST /_parta/v1/invites/<token>/join JoinRequest──▶ Joined (403/410: why not)
          ──POST /_parta/v1/meetings MeetingRequest──▶ MeetingPosted (403/404: why not)
          ──GET  /_parta/v1/homework?room=<room id>──▶ HomeworkList
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import quote

import httpx

from kernel.contracts.base import Message, call

INVITES_PATH = "/_parta/v1/invites"
MEETINGS_PATH = "/_parta/v1/meetings"
HOMEWORK_PATH = "/_parta/v1/homework"
MODERATION_PATH = "/_parta/v1/moderation"


class InviteInfo(Message):
    valid: bool
    reason: str | None = None
    name: str | None = None
    audience: str | None = None
    """Who the link is for, in words the page shows."""


class JoinRequest(Message):
    user_id: str
    role: Literal["student", "parent", "teacher", "administrator"] | None = None


class Joined(Message):
    room_id: str
    name: str


class MeetingRequest(Message):
    key: str
    """Made by the form: a double click posts one invitation."""
    organiser: str
    title: str
    starts_at: datetime
    ends_at: datetime
    room_alias: str | None = None
    """A parents' chat; or, for a one-to-one meeting, ``parent``."""
    parent: str | None = None


class MeetingPosted(Message):
    room_id: str
    call_url: str


class HandIn(Message):
    student: str
    file: str
    at: int


class HomeworkTask(Message):
    event_id: str
    text: str
    set_by: str
    set_at: int
    handed_in: list[HandIn]


class HomeworkList(Message):
    room_id: str
    homework: list[HomeworkTask]


class ModerationAction(Message):
    at: str
    moderator: str
    action: str
    """remove, warn or kick."""
    report_id: int
    room_id: str
    event_id: str
    author: str
    reporter: str
    reported_at: str


class ModerationLog(Message):
    actions: list[ModerationAction]


class BotsApi:
    """The one client of the bots' API."""

    def __init__(
        self, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url, self._token, self._transport = base_url.rstrip("/"), token, transport

    async def invite(self, token: str) -> InviteInfo:
        url = f"{self._url}{INVITES_PATH}/{quote(token, safe='')}"
        return await call("GET", url, self._token, InviteInfo, transport=self._transport)

    async def join(self, token: str, asked: JoinRequest) -> Joined:
        url = f"{self._url}{INVITES_PATH}/{quote(token, safe='')}/join"
        return await call("POST", url, self._token, Joined, body=asked, transport=self._transport)

    async def meeting(self, asked: MeetingRequest) -> MeetingPosted:
        url = self._url + MEETINGS_PATH
        return await call(
            "POST",
            url,
            self._token,
            MeetingPosted,
            body=asked,
            wait_s=60,
            transport=self._transport,
        )

    async def moderation(self) -> ModerationLog:
        url = self._url + MODERATION_PATH
        return await call("GET", url, self._token, ModerationLog, transport=self._transport)

    async def homework(self, room_id: str) -> HomeworkList:
        url = self._url + HOMEWORK_PATH
        return await call(
            "GET",
            url,
            self._token,
            HomeworkList,
            params={"room": room_id},
            transport=self._transport,
        )
