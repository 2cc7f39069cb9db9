"""The diary's API for the other components, both sides of it.

::

    bots, call bridge ──GET /api/v1/distance-lessons?from&to──▶ DistanceLessons
                        (diary API token; school-local times; [from, to) ≤ 31 days)
    Synapse's password module ──POST /_parta/v1/check-password PasswordCheck──▶ PasswordChecked
                        (password-check token; a wrong password is a 403)
"""

from __future__ import annotations

from datetime import datetime

import httpx

from kernel.contracts.base import Message, call

LESSONS_PATH = "/api/v1/distance-lessons"
CHECK_PASSWORD_PATH = "/_parta/v1/check-password"  # noqa: S105 - a path, not a secret


class DistanceLesson(Message):
    lesson_id: str
    class_id: str
    class_title: str
    subject: str
    starts_at: datetime
    """School-local, without a zone (``DistanceLessons.timezone`` says which)."""
    ends_at: datetime
    call_url: str
    room_alias: str | None
    """The class chat it is held in; ``None`` when the class has none yet."""


class DistanceLessons(Message):
    timezone: str
    lessons: list[DistanceLesson]


class PasswordCheck(Message):
    password: str
    login: str | None = None
    """Whatever the person typed: login, phone or e-mail."""
    user_id: str | None = None


class PasswordChecked(Message):
    user_id: str


class DiaryApi:
    """The one client of the diary's API."""

    def __init__(
        self, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url, self._token, self._transport = base_url.rstrip("/"), token, transport

    async def distance_lessons(self, since: datetime, until: datetime) -> DistanceLessons:
        params = {
            "from": since.isoformat(timespec="minutes"),
            "to": until.isoformat(timespec="minutes"),
        }
        return await call(
            "GET",
            self._url + LESSONS_PATH,
            self._token,
            DistanceLessons,
            params=params,
            transport=self._transport,
        )
