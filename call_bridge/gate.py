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

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from call_bridge.identity import IdentityRefused, OpenIdToken
from call_bridge.replay import UsedTokens
from call_bridge.rules import CallId, CallKind, LessonWindow, MemberView, Refused, admit_member
from kernel.contracts.base import ApiError
from kernel.contracts.diary import DiaryApi
from kernel.ids import RoomAlias, RoomID, UserID, server_of
from kernel.matrix import Forbidden, MatrixClient, MatrixError, MatrixFailure, NotFound

log = logging.getLogger(__name__)

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
    room_name: str = ""
    """The chat's name, for the page's title (a lesson is named by the diary instead)."""


class Identities(Protocol):
    async def user_of(self, token: OpenIdToken) -> UserID: ...


class RoomView:
    """The call's room as the school's homeserver sees it (the appservice's token).

    The school's bot reads the room when it is in it (every synced room). In a chat
    made by people, the bot is not there: a local caller's own view is read instead
    (the appservice may act as its people), and the bot is invited by that caller, so
    that the call's guests from other schools can be checked too.
    """

    def __init__(self, matrix: MatrixClient, bot: UserID) -> None:
        self._matrix, self._bot = matrix, bot

    async def _view(self, room: RoomID, user: UserID, reader: UserID | None) -> MemberView | None:
        """None when the reader cannot see the room at all."""
        try:
            levels = await self._matrix.power_levels(room, reader)
            member = await self._matrix.state_event_or_empty(room, "m.room.member", user, reader)
        except (Forbidden, NotFound):
            return None
        return MemberView(
            membership=member.get("membership"),
            power=levels.of_user(user),
            display_name=member.get("displayname"),
        )

    async def member(self, room: RoomID, user: UserID) -> MemberView:
        view = await self._view(room, user, None)
        if view is None and server_of(user) == server_of(self._bot):
            view = await self._view(room, user, user)
            if view is not None and view.membership == "join":
                try:
                    await self._matrix.invite(room, self._bot, as_user=user)
                    await self._matrix.join(room)
                except MatrixError as e:  # the person may not invite: the bot stays out
                    log.info("the bot stays out of %s: %s", room, e)
        return view or MemberView(membership=None, power=0, display_name=None)

    async def name(self, room: RoomID, user: UserID) -> str:
        """The chat's name as its people see it ("" for a chat without one)."""
        readers: list[UserID | None] = [None]
        if server_of(user) == server_of(self._bot):
            readers.append(user)
        for reader in readers:
            try:
                found = await self._matrix.state_event_or_empty(room, "m.room.name", "", reader)
            except MatrixError:
                continue
            return str(found.get("name") or "")[:200]
        return ""

    async def resolve(self, alias: str) -> RoomID | None:
        try:
            return await self._matrix.resolve_alias(RoomAlias(alias))
        except MatrixError:
            return None


class Lessons:
    """The diary's distance lessons (its API, :mod:`kernel.contracts.diary`)."""

    def __init__(
        self,
        diary: DiaryApi,
        zone: ZoneInfo,
        rooms: RoomView,
        before: timedelta,
        after: timedelta,
    ) -> None:
        self._diary, self._zone = diary, zone
        self._rooms, self._before, self._after = rooms, before, after

    async def find(self, lesson_id: str) -> Lesson:
        try:
            day = date.fromisoformat(lesson_id.rpartition("@")[2])
        except ValueError as e:
            raise Refused("такого урока нет в дневнике") from e
        since = datetime.combine(day, datetime.min.time())
        try:
            answer = await self._diary.distance_lessons(since, since + timedelta(days=1))
        except ApiError as e:
            raise Refused("дневник не отвечает, попробуйте через минуту") from e
        for item in answer.lessons:
            if item.lesson_id != lesson_id:
                continue
            room = await self._rooms.resolve(item.room_alias or "")
            if room is None:
                raise Refused("у этого урока нет чата класса: класс ещё не синхронизирован")
            return Lesson(
                lesson_id=lesson_id,
                subject=item.subject,
                class_title=item.class_title,
                room=room,
                window=LessonWindow(
                    item.starts_at.replace(tzinfo=self._zone),
                    item.ends_at.replace(tzinfo=self._zone),
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
        try:
            view = await self._rooms.member(room, user)
        except MatrixFailure as e:
            raise Refused("сервер школы не отвечает, попробуйте через минуту") from e
        moderator = admit_member(view)
        if lesson is not None:
            lesson.window.check(self._now())
        room_name = ""
        if lesson is None:
            try:
                room_name = await self._rooms.name(room, user)
            except MatrixFailure:
                room_name = ""  # the title is no reason to keep anyone out
        return Admission(
            user=user,
            name=view.display_name or user,
            call=call,
            room=room,
            moderator=moderator,
            lesson=lesson,
            room_name=room_name,
        )
