"""The lesson of ``parta bench day``: 30 people of one class join its call at once.

::

    each of 30 (already logged in, as their client is) ─┬▶ OpenID token from Synapse
                                                        ├▶ the bridge's front: which worker
                                                        └▶ that worker's WebSocket: join →
                                                           welcome (the door asked Synapse
                                                           and the diary who they are)
    timed from the first request to the last welcome; then everybody leaves

No media: what is measured is the door under the day's chatter (``parta bench calls``
measures the media).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import websockets

from parta.bench.day_school import Room
from parta.bench.day_stats import percentile

CLASS_SIZE = 30


async def _login(http: httpx.AsyncClient, as_token: str, user: str) -> str:
    answer = await http.post(
        "/_matrix/client/v3/login",
        headers={"Authorization": f"Bearer {as_token}"},
        json={
            "type": "m.login.application_service",
            "identifier": {"type": "m.id.user", "user": user},
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def _join(
    http: httpx.AsyncClient, bridge: str, call: str, user: str, token: str
) -> tuple[float, float]:
    """(seconds to the OpenID token, seconds to the welcome) for one person."""
    started = time.monotonic()
    minted = await http.post(
        f"/_matrix/client/v3/user/{quote(user)}/openid/request_token",
        headers={"Authorization": f"Bearer {token}"},
        json={},
    )
    minted.raise_for_status()
    openid_s = time.monotonic() - started
    placed = await http.get(f"{bridge}/api/v1/place", params={"call": call})
    placed.raise_for_status()
    socket = await websockets.connect(placed.json()["ws_url"])
    try:
        await socket.send(json.dumps({"type": "join", "call": call, "token": minted.json()}))
        first = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if first.get("type") != "welcome":
            raise RuntimeError(f"refused: {first.get('reason')}")
        welcomed = time.monotonic() - started
        await socket.send(json.dumps({"type": "leave"}))
    finally:
        await socket.close()
    return openid_s, welcomed


async def lesson(homeserver: str, bridge: str, as_token: str, room: Room) -> dict[str, Any]:
    """Up to 30 members of ``room`` join its call together."""
    people = sorted(room.members)[:CLASS_SIZE]
    call = f"room/{room.room_id}"
    errors: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=homeserver, timeout=60) as http:
        tokens = await asyncio.gather(*(_login(http, as_token, u) for u in people))
        started = time.monotonic()
        done = await asyncio.gather(
            *(_join(http, bridge, call, u, t) for u, t in zip(people, tokens, strict=True)),
            return_exceptions=True,
        )
        took = time.monotonic() - started
    joined = [d for d in done if isinstance(d, tuple)]
    for d in done:
        if isinstance(d, BaseException):
            errors[f"lesson:{type(d).__name__}"] += 1
    openid = [o for o, _w in joined]
    welcome = [w for _o, w in joined]
    return {
        "lesson_people": len(people),
        "lesson_joined": len(joined),
        "lesson_join_all_s": round(max(welcome), 3) if joined else None,
        "lesson_join_p95_s": _r(percentile(welcome, 0.95)),
        "lesson_openid_p95_s": _r(percentile(openid, 0.95)),
        "lesson_wall_s": round(took, 3),
        "lesson_errors": dict(errors),
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
