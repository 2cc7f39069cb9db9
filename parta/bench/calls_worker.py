"""A worker for ``parta bench calls`` only: ``python -m parta.bench.calls_worker``.

The same signalling and conference code as :mod:`call_bridge.worker`, with two
differences, both named: the door admits the benchmark's synthetic participants
(who prove themselves with a random key the benchmark passed in ``PARTA_BENCH_KEY``,
not with Matrix — Matrix is not what is measured), and ``--baseline`` forwards through
aiortc's stock ``MediaRelay`` instead of the encoded forwarder.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from call_bridge.forward import EncodedSource, SourceFactory, install_passthrough
from call_bridge.gate import Admission
from call_bridge.identity import OpenIdToken
from call_bridge.rules import CallId, Refused
from call_bridge.signalling import Calls
from call_bridge.speakers import LOUDEST
from kernel.ids import RoomID, UserID
from kernel.secrets import same_secret
from parta.bench.calls_baseline import RelaySource


class BenchDoor:
    """Admits whoever shows the benchmark's key; the first to come is the moderator."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._count = 0

    async def admit(self, call: CallId, token: OpenIdToken) -> Admission:
        if not same_secret(token.access_token, self._key):
            raise Refused("not the benchmark's key")
        self._count += 1
        user = UserID(f"@bench{self._count}:{token.matrix_server_name}")
        return Admission(
            user, f"bench {self._count}", call, RoomID("!bench"), self._count == 1, None
        )


def make_app(key: str, baseline: bool, voices: int | None) -> Starlette:
    source: SourceFactory = RelaySource if baseline else EncodedSource
    if not baseline:
        install_passthrough()
    calls = Calls(BenchDoor(key), lambda admission: [], source=source, voices=voices)
    started = time.monotonic()

    async def status(request: Request) -> Response:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return JSONResponse(
            {
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "sys_s": usage.ru_stime,
                "wall_s": time.monotonic() - started,
                "rss_mb": usage.ru_maxrss / 1024,
                "calls": {str(c): conf.stats() for c, conf in calls.calls.items()},
                "transport": _transport_packets(calls),
                "sources": {str(c): conf.sources() for c, conf in calls.calls.items()},
            }
        )

    return Starlette(routes=[Route("/calls", status), WebSocketRoute("/ws", calls.serve)])


def _transport_packets(calls: Calls) -> dict[str, int]:
    """SRTP and SRTCP packets through every participant's transport (the baseline too)."""
    rx = tx = 0
    for conference in calls.calls.values():
        for participant in conference.participants.values():
            transports = {t.receiver.transport for t in participant.pc.getTransceivers()}
            for transport in transports:
                rx += getattr(transport, "_RTCDtlsTransport__rx_packets", 0)
                tx += getattr(transport, "_RTCDtlsTransport__tx_packets", 0)
    return {"rx": rx, "tx": tx}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m parta.bench.calls_worker")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--voices", default=str(LOUDEST), help="voices forwarded at once, or 'all'")
    args = parser.parse_args(argv)
    voices = None if args.voices == "all" else int(args.voices)
    key = os.environ["PARTA_BENCH_KEY"]
    uvicorn.run(
        make_app(key, args.baseline, voices),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()
