"""One forwarding process of the pool: ``python -m call_bridge.worker -c parta.yaml -i N``.

One Python process forwards about 12–14k packets/s on one core (field notes), so
the front starts a pool of these and places each call on the least busy one.
Worker ``N`` listens on ``call_bridge.port + 1 + N``. It serves:

- ``/ws`` — the participants' WebSockets (:mod:`call_bridge.signalling`);
- ``/calls`` — the calls it holds and its own CPU and memory, for placement and the
  benchmarks; only with the bridge's own token (room ids are nobody else's business).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import resource
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from aiortc import RTCIceServer
from prometheus_client import REGISTRY
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from call_bridge.attendance import AttendanceBook
from call_bridge.forward import TOTALS, install_passthrough
from call_bridge.frames import MAX_FRAME
from call_bridge.gate import TOKEN_LIFETIME, Admission, Gate, Lessons, RoomView
from call_bridge.identity import FederationEndpoint, OpenIdVerifier
from call_bridge.matrix_room import CallRoom
from call_bridge.metrics import WorkerCollector
from call_bridge.replay import UsedTokens
from call_bridge.signalling import Calls, Traces
from kernel.config import CallBridgeConfig, SchoolConfig, load_config
from kernel.contracts.diary import DiaryApi
from kernel.ids import ServerName, user_id
from kernel.matrix import MatrixClient, MatrixFailure
from kernel.metrics import HttpMetrics, serve
from kernel.secrets import read_secret_file, same_secret

log = logging.getLogger(__name__)


def attendance_url(config: SchoolConfig) -> str:
    return config.component_store_url("bridge", "attendance.db")


def worker_port(bridge: CallBridgeConfig, index: int) -> int:
    return bridge.port + 1 + index


def endpoints(config: SchoolConfig) -> dict[str, FederationEndpoint]:
    """The school's own server (its client listener serves ``openid``), then the region's."""
    found = {config.server_name: FederationEndpoint(config.homeserver_url)}
    for name, server in config.call_bridge.servers.items():
        found[name] = FederationEndpoint(server.url, ca_file=server.ca_file)
    return found


def ice_servers(
    bridge: CallBridgeConfig, now: Callable[[], float] = time.time
) -> Callable[[Admission], list[RTCIceServer]]:
    """Configured servers, plus TURN with a short-lived credential per participant.

    coturn's ``use-auth-secret``: the user name is ``<expiry>:<user>`` and the
    password ``base64(HMAC-SHA1(secret, user name))``.
    """
    static = [
        RTCIceServer(
            urls=list(s.urls),
            username=s.username or None,
            credential=read_secret_file(s.credential_file) if s.credential_file else None,
        )
        for s in bridge.ice_servers
    ]
    secret = read_secret_file(bridge.turn_secret_file) if bridge.turn_secret_file else None

    def for_admission(admission: Admission) -> list[RTCIceServer]:
        if secret is None or not bridge.turn_urls:
            return list(static)
        name = f"{int(now()) + bridge.turn_ttl_seconds}:{admission.user}"
        digest = hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest()
        turn = RTCIceServer(
            urls=list(bridge.turn_urls),
            username=name,
            credential=base64.b64encode(digest).decode(),
        )
        return [*static, turn]

    return for_admission


def make_app(config: SchoolConfig, index: int) -> Starlette:
    install_passthrough()
    bridge = config.call_bridge
    bot = user_id(config.appservice.bot_localpart, ServerName(config.server_name))
    matrix = MatrixClient(config.homeserver_url, read_secret_file(config.as_token_file), attempts=2)
    rooms = RoomView(matrix, bot)
    lessons = Lessons(
        DiaryApi(config.diary_internal_url, read_secret_file(config.diary_api_token_file)),
        ZoneInfo(config.diary.timezone),
        rooms,
        timedelta(minutes=bridge.window_before_minutes),
        timedelta(minutes=bridge.window_after_minutes),
    )
    zone = ZoneInfo(config.diary.timezone)
    used = UsedTokens(config.component_store_url("bridge", "used_tokens.db"), TOKEN_LIFETIME)
    gate = Gate(OpenIdVerifier(endpoints(config)), rooms, lessons, lambda: datetime.now(zone), used)
    traces = Traces(
        room=CallRoom(config.homeserver_url, read_secret_file(config.as_token_file), bot),
        book=AttendanceBook(attendance_url(config)),
        page_url=lambda call: f"{config.call_bridge_url}/{call.path}",
        worker=index,
        zone=zone,
    )
    calls = Calls(gate, ice_servers(bridge), traces, voices=bridge.voices)
    started = time.monotonic()
    bridge_token = read_secret_file(config.bridge_token_file)

    async def health(request: Request) -> Response:
        return JSONResponse({"worker": index})

    async def status(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, bridge_token):
            return JSONResponse({"error": "the bridge's own token is required"}, 401)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return JSONResponse(
            {
                "worker": index,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "wall_s": time.monotonic() - started,
                "rss_mb": usage.ru_maxrss / 1024,
                "calls": {str(c): conf.stats() for c, conf in calls.calls.items()},
            }
        )

    if serve(config.metrics, "call_bridge_worker", index) is not None:
        REGISTRY.register(WorkerCollector(calls.calls.values, TOTALS))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        keeping = asyncio.ensure_future(calls.keep_stays())
        orphans = asyncio.ensure_future(_wrap_up_orphans(calls))
        try:
            yield
        finally:
            keeping.cancel()
            orphans.cancel()

    return Starlette(
        lifespan=lifespan,
        middleware=[Middleware(HttpMetrics, component="call_bridge")],
        routes=[
            Route("/health", health),
            Route("/calls", status),
            WebSocketRoute("/ws", calls.serve),
        ],
    )


ORPHANS_S = 60.0


async def _wrap_up_orphans(calls: Calls) -> None:
    """At start, in the background: the calls an earlier life of this worker left open."""
    try:
        await asyncio.wait_for(calls.wrap_up_orphans(), ORPHANS_S)
    except (TimeoutError, MatrixFailure, SQLAlchemyError) as e:
        log.warning("the calls an earlier life of this worker left open are not ended: %s", e)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m call_bridge.worker")
    parser.add_argument("-c", "--config", type=Path, required=True)
    parser.add_argument("-i", "--index", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # httpx logs each request's URL, and the federation API takes the OpenID token there
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = load_config(args.config)
    port = worker_port(config.call_bridge, args.index)
    uvicorn.run(
        make_app(config, args.index),
        host=config.call_bridge.bind_host,
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=4 * MAX_FRAME,  # bytes: a frame of MAX_FRAME characters, all four-byte
    )


if __name__ == "__main__":
    main()
