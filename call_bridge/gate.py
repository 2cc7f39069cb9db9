"""The door of a call: who the person is, whether they belong, whether it is time.

::

    join {call, openid token} ─▶ OpenIdVerifier ── the person's own server says who it is
                              ─▶ replay check ──── each token opens one door once
                              ─▶ Lessons ────────── lesson/<id>: the diary's lesson, its class
                              │                     chat and its window («Урок еще не начался»)
                              ─▶ RoomView ───────── the school's homeserver, asked with the
                                                    appservice's token: joined? power? name?

Every refusal is a :class:`~call_bridge.rules.Refused` whose reason the page shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from call_bridge.identity import IdentityRefused, OpenIdToken
from call_bridge.replay import UsedTokens
from call_bridge.rules import CallId, CallKind, LessonWindow, MemberView, Refused, admit_member
from parta.ids import RoomID, UserID

TOKEN_LIFETIME = 3600.0
"""Synapse's OpenID tokens live an hour; a used one is remembered that long."""


@dataclass(frozen=True)
class Lesson:
    lesson_id: str
    subject: str
    class_title: str
    room: RoomID
    window: LessonWindow


@dataclass(frozen=True)
class Admission:
    user: UserID
    name: str
    call: CallId
    room: RoomID
    moderator: bool
    lesson: Lesson | None


def _q(part: str) -> str:
    return quote(part, safe="")


class Identities(Protocol):
    async def user_of(self, token: OpenIdToken) -> UserID: ...


class RoomView:
    """The call's room as the school's homeserver sees it (the appservice's token)."""

    def __init__(self, homeserver_url: str, as_token: str) -> None:
        self._url = homeserver_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {as_token}"}

    async def _get(self, http: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
        answer = await http.get(f"{self._url}/_matrix/client/v3{path}", headers=self._headers)
        if answer.status_code in (403, 404):
            return None
        answer.raise_for_status()
        body = answer.json()
        return body if isinstance(body, dict) else None

    async def member(self, room: RoomID, user: UserID) -> MemberView:
        async with httpx.AsyncClient(timeout=15) as http:
            event = await self._get(http, f"/rooms/{_q(room)}/state/m.room.member/{_q(user)}")
            levels = await self._get(http, f"/rooms/{_q(room)}/state/m.room.power_levels/")
        levels = levels or {}
        users = levels.get("users", {})
        power = users.get(user, levels.get("users_default", 0))
        return MemberView(
            membership=(event or {}).get("membership"),
            power=power if isinstance(power, int) else 0,
            display_name=(event or {}).get("displayname"),
        )

    async def resolve(self, alias: str) -> RoomID | None:
        async with httpx.AsyncClient(timeout=15) as http:
            body = await self._get(http, f"/directory/room/{quote(alias, safe='')}")
        room = (body or {}).get("room_id")
        return RoomID(room) if isinstance(room, str) else None


class Lessons:
    """The diary's distance lessons (``GET /api/v1/distance-lessons``, its bearer token)."""

    def __init__(
        self,
        diary_url: str,
        token: str,
        zone: ZoneInfo,
        rooms: RoomView,
        before: timedelta,
        after: timedelta,
    ) -> None:
        self._url, self._token, self._zone = diary_url.rstrip("/"), token, zone
        self._rooms, self._before, self._after = rooms, before, after

    async def find(self, lesson_id: str) -> Lesson:
        try:
            day = date.fromisoformat(lesson_id.rpartition("@")[2])
        except ValueError as e:
            raise Refused("такого урока нет в дневнике") from e
        since = datetime.combine(day, datetime.min.time())
        params = {"from": since.isoformat(), "to": (since + timedelta(days=1)).isoformat()}
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                answer = await http.get(
                    f"{self._url}/api/v1/distance-lessons",
                    params=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            answer.raise_for_status()
        except httpx.HTTPError as e:
            raise Refused("дневник не отвечает, попробуйте через минуту") from e
        for item in answer.json().get("lessons", []):
            if item.get("lesson_id") != lesson_id:
                continue
            room = await self._rooms.resolve(str(item.get("room_alias", "")))
            if room is None:
                raise Refused("у этого урока нет чата класса: класс ещё не синхронизирован")
            return Lesson(
                lesson_id=lesson_id,
                subject=str(item.get("subject", "")),
                class_title=str(item.get("class_title", "")),
                room=room,
                window=LessonWindow(
                    datetime.fromisoformat(item["starts_at"]).replace(tzinfo=self._zone),
                    datetime.fromisoformat(item["ends_at"]).replace(tzinfo=self._zone),
                    self._before,
                    self._after,
                ),
            )
        raise Refused("такого дистанционного урока нет в дневнике")


class Gate:
    def __init__(
        self,
        identities: Identities,
        rooms: RoomView,
        lessons: Lessons | None,
        now: Callable[[], datetime],
        used: UsedTokens,
    ) -> None:
        self._identities, self._rooms, self._lessons, self._now = identities, rooms, lessons, now
        self._used = used

    async def admit(self, call: CallId, token: OpenIdToken) -> Admission:
        try:
            user = await self._identities.user_of(token)
        except IdentityRefused as e:
            raise Refused(e.reason) from e
        if not self._used.first_use(token.matrix_server_name, token.access_token):
            raise Refused("этот токен уже использован: обновите страницу звонка")
        lesson = None
        if call.kind is CallKind.LESSON:
            if self._lessons is None:
                raise Refused("уроки недоступны: мост не связан с дневником")
            lesson = await self._lessons.find(call.key)
            room = lesson.room
        else:
            room = RoomID(call.key)
        view = await self._rooms.member(room, user)
        moderator = admit_member(view)
        if lesson is not None:
            lesson.window.check(self._now())
        return Admission(
            user=user,
            name=view.display_name or user,
            call=call,
            room=room,
            moderator=moderator,
            lesson=lesson,
        )
