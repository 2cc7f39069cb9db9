"""The bridge's front: the call page, and which worker process serves which call.

::

    browser ─GET /lesson/<id>───────────▶ front: the call page
            ─GET /api/v1/place?call=…───▶ front: asks each worker what it holds;
                                           a call already held stays where it is,
                                           a new one goes to the worker with the
                                           fewest calls (one call per process while
                                           there are enough processes)
            ─WebSocket ws_url───────────▶ that worker (signalling and media)

Placements are remembered for a minute, so two people opening a new call at the
same moment land on the same worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from call_bridge.attendance import AttendanceBook, summarise
from call_bridge.rules import CallId, Refused
from call_bridge.worker import attendance_url
from kernel.config import SchoolConfig
from kernel.contracts.bridge import ATTENDANCE_PATH, PLACE_PATH, Attendance, Placement, Presence
from kernel.health import Check, homeserver_url, reachable, ready
from kernel.http_reasons import reason
from kernel.metrics import HttpMetrics
from kernel.secrets import read_secret_file, same_secret

RESERVATION_S = 60.0
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Worker:
    index: int
    url: str
    """Where the front reaches it (its own listener)."""
    ws_url: str
    """Where browsers reach its WebSocket."""


def workers_of(config: SchoolConfig) -> list[Worker]:
    bridge = config.call_bridge
    public = urlsplit(config.call_bridge_url)
    found = []
    for i in range(bridge.workers):
        port = bridge.port + 1 + i
        url = f"http://{bridge.bind_host}:{port}"
        if bridge.public_url:  # behind the proxy: /w/<i>/ws is routed to worker i
            scheme = "wss" if public.scheme == "https" else "ws"
            ws = f"{scheme}://{public.netloc}{public.path.rstrip('/')}/w/{i}/ws"
        else:
            ws = f"ws://{bridge.bind_host}:{port}/ws"
        found.append(Worker(i, url, ws))
    return found


class Pool:
    def __init__(self, workers: list[Worker], token: str) -> None:
        self._workers = workers
        self._token = token
        self._reserved: dict[str, tuple[int, float]] = {}

    async def loads(self) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(timeout=2, headers=headers) as http:
            for w in self._workers:
                try:
                    found[w.index] = (await http.get(f"{w.url}/calls")).json()
                except (httpx.HTTPError, ValueError):
                    continue  # down: not a candidate
        return found

    async def place(self, call: CallId) -> Worker:
        key = str(call)
        loads = await self.loads()
        for index, status in loads.items():
            if key in status.get("calls", {}):
                return self._workers[index]
        now = time.monotonic()
        self._reserved = {k: v for k, v in self._reserved.items() if v[1] > now}
        if key in self._reserved and self._reserved[key][0] in loads:
            return self._workers[self._reserved[key][0]]
        if not loads:
            raise Refused("сервер звонков сейчас недоступен, попробуйте через минуту")
        held = {i: len(s.get("calls", {})) for i, s in loads.items()}
        for index, _ in self._reserved.values():
            if index in held:
                held[index] += 1
        chosen = min(held, key=lambda i: (held[i], i))
        self._reserved[key] = (chosen, now + RESERVATION_S)
        return self._workers[chosen]


def build_front(config: SchoolConfig) -> Starlette:
    placement = Pool(workers_of(config), read_secret_file(config.bridge_token_file))
    headers = page_headers(config)
    templates = Environment(
        loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape()
    )

    async def page(request: Request) -> Response:
        try:
            call = CallId.parse(f"{request.path_params['kind']}/{request.path_params['key']}")
        except Refused as e:
            return HTMLResponse(templates.get_template("refused.html").render(reason=e.reason), 404)
        html = templates.get_template("call.html").render(
            config={
                "call": str(call),
                "homeserver": config.homeserver_public_url,
                "server_name": config.server_name,
                "diary_url": config.diary_url,
            }
        )
        return HTMLResponse(html, headers=headers)

    async def place(request: Request) -> Response:
        try:
            call = CallId.parse(request.query_params.get("call", ""))
            worker = await placement.place(call)
        except Refused as e:
            return JSONResponse({"error": e.reason}, status_code=503)
        return JSONResponse(Placement(ws_url=worker.ws_url, worker=worker.index).model_dump())

    api_token = read_secret_file(config.diary_api_token_file)
    book = AttendanceBook(attendance_url(config))

    async def attendance(request: Request) -> Response:
        """``GET /api/v1/attendance?call=lesson/<id>`` for the diary (its API token)."""
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, api_token):
            return JSONResponse({"error": "a valid diary API token is required"}, 401)
        try:
            call = CallId.parse(request.query_params.get("call", ""))
        except Refused as e:
            return JSONResponse({"error": e.reason}, 400)
        presence = summarise(book.visits(str(call)))
        answer = Attendance(
            call=str(call),
            attendance=[
                Presence(
                    user_id=p.user,
                    name=p.name,
                    first_joined=int(p.first_joined * 1000),
                    last_left=int(p.last_left * 1000),
                    seconds=p.seconds,
                )
                for p in presence
            ],
        )
        return JSONResponse(answer.model_dump())

    async def health(request: Request) -> Response:
        return JSONResponse({"workers": sorted(await placement.loads())})

    async def ready_(request: Request) -> Response:
        answering = await placement.loads()
        workers = [
            Check(
                f"worker {w.index}",
                w.index in answering,
                "ok" if w.index in answering else "не отвечает",
            )
            for w in workers_of(config)
        ]
        code, body = ready(
            [
                await reachable("homeserver", homeserver_url(config.homeserver_url)),
                await reachable("diary", config.diary_internal_url + "/health"),
                *workers,
            ]
        )
        return JSONResponse(body, code)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
        text = templates.get_template("refused.html").render(
            reason=reason(exc.status_code, exc.detail)
        )
        return HTMLResponse(text, exc.status_code, headers=headers)

    app = Starlette(
        middleware=[Middleware(HttpMetrics, component="call_bridge")],
        routes=[
            Route("/health", health),
            Route("/ready", ready_),
            Route(PLACE_PATH, place),
            Route(ATTENDANCE_PATH, attendance),
            Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
            Route("/{kind:str}/{key:path}", page),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.router.redirect_slashes = False  # /nothing-here is no call: said so, not redirected
    return app


def page_headers(config: SchoolConfig) -> dict[str, str]:
    """The call page may be framed by the bridge itself, the diary and the Matrix web clients
    the school names (Element Web showing it as a widget), by nobody else: a page that turns
    on a child's camera must not sit inside somebody else's page."""
    ancestors = " ".join(["'self'", _origin(config.diary_url), *config.call_bridge.frame_ancestors])
    return {
        "Content-Security-Policy": (
            "default-src 'self'; connect-src 'self' ws: wss: http: https:; "
            "img-src 'self' data: blob:; media-src 'self' blob:; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {ancestors}"
        ),
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
