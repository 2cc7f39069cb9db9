"""Liveness and readiness, the same on every component (F1, F2).

``GET /health``: the process answers. ``GET /ready``: what it needs answers too — its
database, the homeserver, the services it calls — with each check named::

    200 {"ready": true,  "checks": {"database": "ok", "homeserver": "ok"}}
    503 {"ready": false, "checks": {"database": "ok", "homeserver": "no answer (ConnectError)"}}

``parta status`` reads these from every component of a school.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

WAIT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = "ok"


def database(engine: Engine, name: str = "database") -> Check:
    try:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as e:
        return Check(name, False, f"недоступна ({type(e).__name__})")
    return Check(name, True)


async def reachable(
    name: str, url: str, headers: Mapping[str, str] | None = None, wait_s: float = WAIT_S
) -> Check:
    """The service answers ``url`` with a 2xx."""
    try:
        async with httpx.AsyncClient(timeout=wait_s) as http:
            answer = await http.get(url, headers=dict(headers or {}))
    except httpx.HTTPError as e:
        return Check(name, False, f"не отвечает ({type(e).__name__})")
    if answer.status_code >= 300:
        return Check(name, False, f"отвечает {answer.status_code}")
    return Check(name, True)


def homeserver_url(base: str) -> str:
    """What every client asks first: the homeserver is up and serving."""
    return base.rstrip("/") + "/_matrix/client/versions"


def ready(checks: Iterable[Check]) -> tuple[int, dict[str, object]]:
    found = list(checks)
    ok = all(c.ok for c in found)
    return (200 if ok else 503), {"ready": ok, "checks": {c.name: c.detail for c in found}}
