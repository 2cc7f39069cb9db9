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
from kernel.ids import RoomID, UserID, server_of

TOKEN_LIFETIME = 3600.0
CREATOR_POWER = 1000
_CREATOR_VERSIONS = frozenset({"12"})
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
    """The call's room as the school's homeserver sees it (the appservice's token).

    The school's bot reads the room when it is in it (every synced room). In a chat
    made by people, the bot is not there: a local caller's own view is read instead
    (the appservice may act as its people), and the bot is invited by that caller, so
    that the call's guests from other schools can be checked too.
    """

    def __init__(self, homeserver_url: str, as_token: str, bot: UserID) -> None:
        self._url = homeserver_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {as_token}"}
        self._bot = bot

    async def _call(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        as_user: UserID | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        answer = await http.request(
            method,
            f"{self._url}/_matrix/client/v3{path}",
            headers=self._headers,
            params={"user_id": as_user} if as_user else None,
            json=body,
        )
        if answer.status_code in (403, 404):
            return None
        answer.raise_for_status()
        found = answer.json()
        return found if isinstance(found, dict) else None

    async def _view(
        self, http: httpx.AsyncClient, room: RoomID, user: UserID, as_user: UserID | None
    ) -> MemberView | None:
        """None when the reader cannot see the room at all."""
        levels = await self._call(
            http, "GET", f"/rooms/{_q(room)}/state/m.room.power_levels/", as_user
        )
        if levels is None:
            return None
        event = await self._call(
            http, "GET", f"/rooms/{_q(room)}/state/m.room.member/{_q(user)}", as_user
        )
        power = levels.get("users", {}).get(user, levels.get("users_default", 0))
        if user in await self._creators(http, room, as_user):
            power = CREATOR_POWER
        return MemberView(
            membership=(event or {}).get("membership"),
            power=power if isinstance(power, int) else 0,
            display_name=(event or {}).get("displayname"),
        )

    async def _creators(
        self, http: httpx.AsyncClient, room: RoomID, as_user: UserID | None
    ) -> set[str]:
        """Room version 12 and later: creators outrank every power level and are not listed."""
        params = {"format": "event", **({"user_id": as_user} if as_user else {})}
        answer = await http.get(
            f"{self._url}/_matrix/client/v3/rooms/{_q(room)}/state/m.room.create/",
            headers=self._headers,
            params=params,
        )
        if answer.status_code != 200:
            return set()
        event = answer.json()
        content = event.get("content", {}) if isinstance(event, dict) else {}
        if str(content.get("room_version", "1")) not in _CREATOR_VERSIONS:
            return set()
        extra = content.get("additional_creators", [])
        return {str(event.get("sender")), *(str(u) for u in extra if isinstance(u, str))}

    async def member(self, room: RoomID, user: UserID) -> MemberView:
        async with httpx.AsyncClient(timeout=15) as http:
            view = await self._view(http, room, user, None)
            if view is None and server_of(user) == server_of(self._bot):
                view = await self._view(http, room, user, user)
                if view is not None and view.membership == "join":
                    invited = await self._call(
                        http, "POST", f"/rooms/{_q(room)}/invite", user, {"user_id": self._bot}
                    )
                    if invited is not None:
                        await self._call(http, "POST", f"/join/{_q(room)}", None, {})
        return view or MemberView(membership=None, power=0, display_name=None)

    async def resolve(self, alias: str) -> RoomID | None:
        async with httpx.AsyncClient(timeout=15) as http:
            body = await self._call(http, "GET", f"/directory/room/{_q(alias)}")
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
