"""The OpenID provider's endpoints (see :mod:`web_client.oidc` for the protocol side)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kernel.ids import SourcedId
from web_client.context import DiaryContext, redirect
from web_client.errors import LinkError
from web_client.link_intent import Links
from web_client.oidc import DiaryOidc, StarletteRequest

logger = logging.getLogger(__name__)


def routes(ctx: DiaryContext, links: Links, oidc: DiaryOidc) -> list[Route]:
    def public_uri(request: Request) -> str:
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{ctx.config.diary_url}{request.url.path}{query}"

    async def discovery(request: Request) -> Response:
        return JSONResponse(oidc.metadata())

    async def jwks(request: Request) -> Response:
        return JSONResponse(oidc.jwks())

    async def authorize(request: Request) -> Response:
        person_id = ctx.person_id(request)
        if person_id is None:
            path = f"{request.url.path}?{request.url.query}"
            return redirect(f"/login?next={quote(path, safe='')}")
        problem = await _ensure_local_account(ctx, links, person_id)
        if problem:
            return ctx.render(request, "error.html", status=403, message=problem)
        person = oidc.people(person_id)
        if person is None:
            return ctx.render(request, "error.html", status=403, message=_ELSEWHERE)
        oauth = StarletteRequest("GET", public_uri(request), request.headers, request.query_params)
        answer: Response = oidc.create_authorization_response(oauth, grant_user=person)
        return answer

    async def token(request: Request) -> Response:
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        oauth = StarletteRequest("POST", public_uri(request), request.headers, data)
        answer: Response = oidc.create_token_response(oauth)
        return answer

    async def userinfo(request: Request) -> Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        person_id = oidc.codes.token_person(bearer, ctx.utc_now()) if bearer else None
        person = oidc.people(person_id) if person_id else None
        if person is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(dict(oidc.user_info(person)))

    return [
        Route("/.well-known/openid-configuration", discovery),
        Route("/oidc/jwks", jwks),
        Route("/oidc/authorize", authorize),
        Route("/oidc/token", token, methods=["POST"]),
        Route("/oidc/userinfo", userinfo, methods=["GET", "POST"]),
    ]


_ELSEWHERE = (
    "Ваша учётная запись Matrix находится на другом сервере: войдите в неё там "
    "(your Matrix account lives on another server; sign in there)."
)


async def _ensure_local_account(
    ctx: DiaryContext, links: Links, person_id: SourcedId
) -> str | None:
    """Signing in from a Matrix client links the profile first, as «Чаты» would."""
    account = ctx.store.account(person_id)
    if account is None or account.matrix_user_id:
        return None
    try:
        await links.link(person_id)  # the account is recorded with the link, in one step
    except LinkError as e:
        return e.reason
    return None
