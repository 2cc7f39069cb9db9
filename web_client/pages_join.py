"""``/join/<token>``: joining a teacher-made chat by its link or QR code (B7).

The person signs in to the diary (the link brings them back here), sees the chat's
name and «Вступить в чат»; the diary asks the school's bots, with its own token, to
bring the person's linked Matrix account in. Without a linked profile the page
sends them to «Привязать учебный профиль» first.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kernel.contracts.base import ApiError
from kernel.contracts.bots import BotsApi, InviteInfo, JoinRequest
from web_client.context import DiaryContext


def routes(ctx: DiaryContext) -> list[Route]:
    bots = BotsApi(ctx.config.bots_url, ctx.invite_token)

    async def page(request: Request, outcome: dict[str, str] | None = None) -> Response:
        _diary, me = ctx.signed_in(request)
        token = request.path_params["token"]
        account = ctx.store.account(me.id)
        linked = bool(account and account.matrix_user_id)
        try:
            info = await bots.invite(token)
        except ApiError as e:
            reason = e.reason if e.status else "Сервис чатов школы не отвечает, попробуйте позже"
            info = InviteInfo(valid=False, reason=reason)
        return ctx.render(
            request,
            "join.html",
            status=200 if info.valid or outcome else 410,
            person=me,
            token=token,
            info=info,
            linked=linked,
            outcome=outcome,
        )

    async def join(request: Request) -> Response:
        await ctx.form(request)
        _diary, me = ctx.signed_in(request)
        account = ctx.store.account(me.id)
        if account is None or not account.matrix_user_id:
            return await page(request)
        asked = JoinRequest(user_id=account.matrix_user_id, role=me.role.value)
        try:
            joined = await bots.join(request.path_params["token"], asked)
        except ApiError as e:
            reason = e.reason if e.status else "Сервис чатов школы не отвечает"
            return await page(request, {"error": reason or "Не удалось вступить"})
        return await page(request, {"joined": joined.name, "room_id": joined.room_id})

    return [
        Route("/join/{token}", page, methods=["GET"]),
        Route("/join/{token}", join, methods=["POST"]),
    ]
