"""Prometheus metrics, the same way on every component (F1, F2).

Each process serves ``/metrics`` on its own internal port (``metrics.first_port`` and the
offsets in :class:`kernel.config.MetricsConfig`), never through the public proxy. Names
follow Prometheus's conventions, ``parta_<component>_<thing>_<unit>``; a label names an
endpoint by its route template (``/journal/lesson/{lesson_id}``), a kind or a result, never a
person, a room or a token. The process's own CPU and memory come with the client library
(``process_cpu_seconds_total``, ``process_resident_memory_bytes``).

    every request ──▶ parta_<c>_http_requests_total{method, route, code}
                      parta_<c>_http_request_duration_seconds{route}
"""

from __future__ import annotations

import logging
import time
from functools import cache

from prometheus_client import Counter, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.config import MetricsConfig

log = logging.getLogger(__name__)

UNMATCHED = "other"
"""The route label of a path no route took (a scanner's guess must not become a label)."""


def serve(config: MetricsConfig, component: str, worker: int = 0) -> int | None:
    """Start this process's ``/metrics`` listener (a daemon thread); its port, or None when
    metrics are off or their port is taken (said in the log: the component still serves its
    users, and the monitoring sees the target down)."""
    if not config.enabled:
        return None
    port = config.port(component, worker)
    try:
        start_http_server(port, addr=config.bind_host)
    except OSError as e:
        where = f"{config.bind_host}:{port}"
        log.error("metrics: cannot listen on %s (%s); running without them", where, e)
        return None
    log.info("metrics on http://%s:%d/metrics", config.bind_host, port)
    return port


@cache
def http_metrics(component: str) -> tuple[Counter, Histogram]:
    """The request counter and latency histogram of one component (made once a process)."""
    requests = Counter(
        f"parta_{component}_http_requests",
        "HTTP requests answered, by method, route template and status code",
        ["method", "route", "code"],
    )
    seconds = Histogram(
        f"parta_{component}_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template",
        ["route"],
    )
    return requests, seconds


def observe(component: str, method: str, route: str, code: int, seconds: float) -> None:
    requests, duration = http_metrics(component)
    requests.labels(method, route, str(code)).inc()
    duration.labels(route).observe(seconds)


class HttpMetrics:
    """ASGI middleware: every HTTP request counted by the route Starlette matched."""

    def __init__(self, app: ASGIApp, component: str) -> None:
        self._app, self._component = app, component
        http_metrics(component)  # the series exist from the start, at 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = str(scope.get("method", "GET"))
            observe(self._component, method, route, status[0], time.perf_counter() - started)
