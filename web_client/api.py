"""The diary's API for the bots: which distance lessons happen when.

``GET /api/v1/distance-lessons?from=2026-11-30T00:00&to=2026-12-07T00:00`` with
``Authorization: Bearer <diary api token>`` (a secret file in the state folder)
answers every distance lesson starting in ``[from, to)`` — made in the journal or
marked in the timetable — in school-local time, with the stable page the call
opens on, so the lesson bot can post «Дистанционный урок: … — Присоединиться»,
and the alias of the class chat it is held in (the call bridge checks membership
there).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appservice.diary_sync.layout import lesson_room
from appservice.diary_sync.model import Diary
from kernel.contracts.diary import (
    CHECK_PASSWORD_PATH,
    LESSONS_PATH,
    DistanceLesson,
    DistanceLessons,
    PasswordCheck,
    PasswordChecked,
)
from kernel.ids import SourcedId
from kernel.secrets import same_secret
from web_client.auth import Refusal
from web_client.context import DiaryContext

_MAX_RANGE = timedelta(days=31)


def routes(ctx: DiaryContext) -> list[Route]:
    async def distance_lessons(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, ctx.api_token):
            return _error(401, "M_UNKNOWN_TOKEN", "a valid diary API token is required")
        try:
            since = datetime.fromisoformat(request.query_params["from"])
            until = datetime.fromisoformat(request.query_params["to"])
        except (KeyError, ValueError):
            return _error(400, "M_INVALID_PARAM", "from and to must be ISO 8601 local times")
        if not since < until <= since + _MAX_RANGE:
            return _error(400, "M_INVALID_PARAM", "to must be after from, at most 31 days later")
        diary = ctx.store.diary()
        days = (until.date() - since.date()).days + 1
        found = {
            d.lesson_id: (d.class_id, d.subject, d.starts_at, d.ends_at)
            for d in ctx.store.distance_lessons(since, until)
        }
        for lesson in ctx.timetable().lessons(since.date(), days):
            if lesson.slot.distance and since <= lesson.starts_at < until:
                slot = lesson.slot
                found[lesson.id] = (slot.class_id, slot.subject, lesson.starts_at, lesson.ends_at)
        answer = DistanceLessons(
            timezone=ctx.config.diary.timezone,
            lessons=[
                DistanceLesson(
                    lesson_id=lesson_id,
                    class_id=class_id,
                    class_title=diary.classes[class_id].title
                    if diary and class_id in diary.classes
                    else "",
                    subject=subject,
                    starts_at=starts.replace(second=0, microsecond=0),
                    ends_at=ends.replace(second=0, microsecond=0),
                    call_url=f"{ctx.config.call_url}/lesson/{quote(lesson_id)}",
                    room_alias=_room_alias(diary, class_id, ctx.config.server_name),
                )
                for lesson_id, (class_id, subject, starts, ends) in sorted(
                    found.items(), key=lambda item: (item[1][2], item[0])
                )
            ],
        )
        return JSONResponse(answer.model_dump(mode="json"))

    async def check_password(request: Request) -> Response:
        """The homeserver's password module asks: is this the person's password?"""
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, ctx.password_check_token):
            return _error(401, "M_UNKNOWN_TOKEN", "a valid password-check token is required")
        try:
            asked = PasswordCheck.model_validate_json(await request.body())
        except ValidationError:
            return _error(400, "M_BAD_JSON", "password and login or user_id are required")
        account = None
        if asked.user_id:
            account = ctx.store.account_of_matrix_user(asked.user_id)
        elif asked.login:
            account = ctx.store.find_account(asked.login)
        password = asked.password
        outcome = ctx.auth.sign_in(account.login if account else "", password, None)
        home = f":{ctx.config.server_name}"
        if isinstance(outcome, Refusal) or account is None or not account.matrix_user_id:
            return _error(403, "M_FORBIDDEN", "wrong login or password")
        if not account.matrix_user_id.endswith(home):
            return _error(403, "M_FORBIDDEN", "the account lives on another server")
        return JSONResponse(PasswordChecked(user_id=account.matrix_user_id).model_dump())

    return [
        Route(LESSONS_PATH, distance_lessons),
        Route(CHECK_PASSWORD_PATH, check_password, methods=["POST"]),
    ]


def _room_alias(diary: Diary | None, class_id: SourcedId, server: str) -> str | None:
    """The class chat the lesson is held in (the call's room), as its alias."""
    key = lesson_room(diary, class_id) if diary is not None else None
    return f"#{key}:{server}" if key else None


def _error(status: int, errcode: str, error: str) -> Response:
    return JSONResponse({"errcode": errcode, "error": error}, status_code=status)
