"""Управление → Журнал действий: what the school's moderators did with reports of messages.

The administration only. The log is the bots' (:mod:`bots.moderation_feature`); names come
from the diary, never from what a person chose to call themselves in a chat::

    GET /manage/moderation ──▶ the bots' GET /_parta/v1/moderation ──▶ a table, newest first
"""

from __future__ import annotations

from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.model import Role
from kernel.contracts.base import ApiError
from kernel.contracts.bots import BotsApi
from web_client.context import DiaryContext

ACTIONS = {
    "remove": "Удалено сообщение",
    "warn": "Предупреждение",
    "mute": "Запрещено писать в чате",
    "kick": "Исключён из чата",
}


def routes(ctx: DiaryContext) -> list[Route]:
    bots = BotsApi(ctx.config.bots_url, ctx.invite_token)

    async def show(request: Request) -> Response:
        diary, me = ctx.signed_in(request)
        if me.role is not Role.ADMINISTRATOR:
            raise HTTPException(403, "Журнал действий модераторов видит администрация школы")
        names = {
            account.matrix_user_id: diary.people[pid].display_name
            for pid in diary.people
            if (account := ctx.store.account(pid)) is not None and account.matrix_user_id
        }
        error = None
        try:
            log = (await bots.moderation()).actions
        except ApiError:
            log, error = [], "Журнал сейчас недоступен: бот школы не отвечает. Попробуйте позже."
        rows = [
            {
                "at": _when(a.at),
                "moderator": names.get(a.moderator, a.moderator),
                "action": ACTIONS.get(a.action, a.action),
                "report": a.report_id,
                "author": names.get(a.author, a.author),
                "reporter": names.get(a.reporter, a.reporter),
                "reported_at": _when(a.reported_at),
            }
            for a in log
        ]
        return ctx.render(request, "moderation.html", person=me, rows=rows, error=error)

    return [Route("/manage/moderation", show, methods=["GET"])]


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return iso
