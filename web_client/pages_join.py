"""``/join/<token>``: joining a teacher-made chat by its link or QR code (B7).

The person signs in to the diary (the link brings them back here), sees the chat's
name and «Вступить в чат»; the diary asks the school's bots, with its own token, to
bring the person's linked Matrix account in. Without a linked profile the page
sends them to «Привязать учебный профиль» first.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web_client.context import DiaryContext


def routes(ctx: DiaryContext) -> list[Route]:
    def bots(path: str) -> tuple[str, dict[str, str]]:
        return f"{ctx.config.bots_url}/_parta/v1/invites/{path}", {
            "Authorization": f"Bearer {ctx.invite_token}"
        }

    async def page(request: Request, outcome: dict[str, str] | None = None) -> Response:
        _diary, me = ctx.signed_in(request)
        token = request.path_params["token"]
        account = ctx.store.account(me.id)
        linked = bool(account and account.matrix_user_id)
        url, headers = bots(token)
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                answer = await http.get(url, headers=headers)
            info = answer.json()
        except (httpx.HTTPError, ValueError):
            info = {"valid": False, "reason": "Сервис чатов школы не отвечает, попробуйте позже"}
        return ctx.render(
            request,
            "join.html",
            status=200 if info.get("valid") or outcome else 410,
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
        url, headers = bots(f"{request.path_params['token']}/join")
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.post(
                    url,
                    headers=headers,
                    json={"user_id": account.matrix_user_id, "role": me.role.value},
                )
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            return await page(request, {"error": "Сервис чатов школы не отвечает"})
        if answer.status_code == 200:
            return await page(
                request,
                {"joined": str(body.get("name", "")), "room_id": str(body.get("room_id", ""))},
            )
        return await page(request, {"error": str(body.get("reason", "Не удалось вступить"))})

    return [
        Route("/join/{token}", page, methods=["GET"]),
        Route("/join/{token}", join, methods=["POST"]),
    ]
