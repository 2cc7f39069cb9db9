"""«Управление → Собрания» (D6): a member of staff calls a parents' meeting or a one-to-one one.

The page offers only what the person may call (:mod:`web_client.meetings`); the school's
bots post the invitation with the join link in the chat (or in a meeting room of its
own, one to one) and remind before it starts. Each form carries a random key, so sending
it twice posts one invitation.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.model import Diary, Person
from appservice.diary_sync.names import BY_LANGUAGE
from kernel.contracts.base import ApiError
from kernel.contracts.bots import BotsApi
from kernel.contracts.bots import MeetingRequest as BotsMeetingRequest
from kernel.ids import ServerName
from web_client.context import DiaryContext
from web_client.meetings import (
    DEFAULT_MINUTES,
    MAX_MINUTES,
    MIN_MINUTES,
    MeetingFormError,
    MeetingRequest,
    Targets,
    read_form,
    targets,
)


def routes(ctx: DiaryContext) -> list[Route]:
    bots = BotsApi(ctx.config.bots_url, ctx.invite_token)

    def staff(request: Request) -> tuple[Diary, Person, Targets]:
        diary, me = ctx.signed_in(request)
        if not me.role.is_staff:
            raise HTTPException(403, "Собрания назначают учителя и администрация школы")
        names = BY_LANGUAGE[ctx.config.language]
        return diary, me, targets(diary, me, names, ServerName(ctx.config.server_name))

    def page(
        request: Request,
        me: Person,
        allowed: Targets,
        *,
        status: int = 200,
        error: MeetingFormError | None = None,
        done: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        return ctx.render(
            request,
            "meetings.html",
            status=status,
            person=me,
            targets=allowed,
            error=error,
            done=done,
            values=values or {},
            key=secrets.token_urlsafe(16),
            min_date=ctx.local_now().date().isoformat(),
            minutes=(MIN_MINUTES, DEFAULT_MINUTES, MAX_MINUTES),
        )

    async def show(request: Request) -> Response:
        _diary, me, allowed = staff(request)
        return page(request, me, allowed)

    async def create(request: Request) -> Response:
        form = await ctx.form(request)
        _diary, me, allowed = staff(request)
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            wanted = read_form(values, allowed, ctx.local_now())
            body = _request_body(ctx, me, wanted, values.get("key", ""))
        except MeetingFormError as e:
            return page(request, me, allowed, status=400, error=e, values=values)
        try:
            result = await bots.meeting(body)
        except ApiError as e:
            if e.status == 0:
                failed = MeetingFormError(
                    "where", "Сервис чатов школы не отвечает, попробуйте позже"
                )
                return page(request, me, allowed, status=503, error=failed, values=values)
            refused = MeetingFormError("where", e.reason or "Не получилось")
            return page(request, me, allowed, status=400, error=refused, values=values)
        where = next(
            (g.name for g in allowed.groups if g.alias == wanted.room_alias),
            next((p.name for p in allowed.parents if p.person_id == wanted.parent), ""),
        )
        done = {
            "title": wanted.title,
            "where": where,
            "when": wanted.starts_at.strftime("%d.%m.%Y %H:%M"),
            "call_url": result.call_url,
            "room_id": result.room_id,
        }
        return page(request, me, allowed, done=done)

    return [
        Route("/manage/meetings", show, methods=["GET"]),
        Route("/manage/meetings", create, methods=["POST"]),
    ]


def _request_body(
    ctx: DiaryContext, me: Person, wanted: MeetingRequest, key: str
) -> BotsMeetingRequest:
    mine = ctx.store.account(me.id)
    if mine is None or not mine.matrix_user_id:
        raise MeetingFormError("where", "Сначала привяжите учебный профиль в разделе «Чаты»")
    if not key or len(key) > 64:
        raise MeetingFormError("where", "Форма устарела: обновите страницу")
    parent = None
    if wanted.parent is not None:
        found = ctx.store.account(wanted.parent)
        if found is None or not found.matrix_user_id:
            raise MeetingFormError("where", "Этот родитель ещё не подключился к чатам")
        parent = found.matrix_user_id
    return BotsMeetingRequest(
        key=key,
        organiser=mine.matrix_user_id,
        title=wanted.title,
        starts_at=wanted.starts_at,
        ends_at=wanted.starts_at + timedelta(minutes=wanted.minutes),
        room_alias=None if parent else str(wanted.room_alias),
        parent=parent,
    )
