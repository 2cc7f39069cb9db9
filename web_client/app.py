"""The diary as one ASGI application: routes, static files, headers, error pages.

Every response carries headers that keep the pages out of frames and other
origins' scripts out of the pages; errors are rendered as Russian pages, never
tracebacks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kernel.config import SchoolConfig
from kernel.health import database, homeserver_url, reachable, ready
from kernel.http_reasons import reason
from kernel.metrics import HttpMetrics
from web_client import (
    api,
    pages_access,
    pages_auth,
    pages_chats,
    pages_diary,
    pages_join,
    pages_journal,
    pages_meetings,
    pages_moderation,
    pages_oidc,
    pages_status,
)
from web_client.context import DiaryContext
from web_client.link_intent import Links
from web_client.link_store import LinkStore
from web_client.linking import Linker
from web_client.oidc import DiaryOidc

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def security_headers(config: SchoolConfig) -> dict[bytes, bytes]:
    """The diary talks to itself and to the school's homeserver (the messenger in «Чаты»).
    Its forms end up there too: «Войти» during single sign-on goes on to the homeserver,
    which sends the person back to the page that asked (:attr:`SchoolConfig.sso_clients`:
    «Чаты», or the call page). Nothing else, and nobody frames it."""
    homeserver = _origin(config.homeserver_public_url)
    elsewhere = {homeserver, *map(_origin, config.sso_clients)} - {_origin(config.diary_url)}
    forms = ["'self'", *sorted(elsewhere)]
    policy = (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        f"connect-src 'self' {homeserver}; base-uri 'none'; "
        f"form-action {' '.join(forms)}; frame-ancestors 'none'"
    )
    return {
        b"x-frame-options": b"DENY",
        b"x-content-type-options": b"nosniff",
        b"referrer-policy": b"no-referrer",
        b"content-security-policy": policy.encode(),
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, headers: dict[bytes, bytes]) -> None:
        self.app, self._headers = app, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self._headers.items())
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(ctx: DiaryContext, linker: Linker, oidc: DiaryOidc) -> Starlette:
    links = Links(LinkStore(ctx.store.engine), linker.link, ctx.utc_now)
    routes: list[BaseRoute] = [
        *pages_auth.routes(ctx),
        *pages_diary.routes(ctx),
        *pages_journal.routes(ctx),
        *pages_chats.routes(ctx, linker, links),
        *pages_join.routes(ctx),
        *pages_meetings.routes(ctx),
        *pages_moderation.routes(ctx),
        *pages_status.routes(ctx, linker),
        *pages_access.routes(ctx),
        *pages_oidc.routes(ctx, links, oidc),
        *api.routes(ctx),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
        if exc.status_code in (301, 302, 303, 307) and exc.headers:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return ctx.render(
            request,
            "error.html",
            status=exc.status_code,
            person=None,
            message=reason(exc.status_code, exc.detail),
        )

    async def crash(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        return ctx.render(
            request,
            "error.html",
            status=500,
            message="Что-то пошло не так. Мы уже знаем об ошибке; попробуйте ещё раз позже.",
        )

    async def health(request: Request) -> Response:
        return PlainTextResponse("OK")

    routes.append(Route("/health", health))

    async def ready_(request: Request) -> Response:
        status, body = ready(
            [
                database(ctx.store.engine),
                await reachable("homeserver", homeserver_url(ctx.config.homeserver_url)),
            ]
        )
        return JSONResponse(body, status)

    routes.append(Route("/ready", ready_))
    middleware = [
        Middleware(HttpMetrics, component="diary"),
        Middleware(SecurityHeaders, headers=security_headers(ctx.config)),
    ]
    if ctx.config.diary.trusted_proxies:
        # the sign-in limits count the real client: X-Forwarded-For, from these proxies only
        trusted = list(ctx.config.diary.trusted_proxies)
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        links.kick()  # links a killed diary left half done are finished at its start
        yield
        await links.stop()

    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: crash},
    )
