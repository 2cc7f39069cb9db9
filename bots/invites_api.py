"""The diary's door to teacher-made chats: ``/_parta/v1/invites/<token>[/join]``.

::

    diary (person signed in, their Matrix account known)
        ──GET  /_parta/v1/invites/<token>──────────▶ {name, valid, reason}
        ──POST /_parta/v1/invites/<token>/join {user_id, role}──▶ the bot invites, the person joins
                                                           (the school's policy module still
                                                           has its say), or the reason why not

Both with the diary's token for the bots (a secret file), compared in constant time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.invites import AUDIENCE_LABELS, Audience, InviteBook
from kernel.ids import server_of
from kernel.secrets import same_secret


class InviteDoor:
    def __init__(
        self,
        book: InviteBook,
        homeserver_url: str,
        as_token: str,
        server_name: str,
        now: Callable[[], datetime],
    ) -> None:
        self._book, self._hs, self._as_token = book, homeserver_url.rstrip("/"), as_token
        self._server, self._now = server_name, now

    def info(self, token: str) -> tuple[int, dict[str, Any]]:
        invite = self._book.find(token)
        if invite is None:
            return 404, {"valid": False, "reason": "Такой ссылки нет"}
        reason = invite.refusal(self._now())
        return 200, {
            "name": invite.name,
            "valid": reason is None,
            "reason": reason,
            "audience": AUDIENCE_LABELS[invite.audience],
        }

    async def join(
        self, token: str, user: str, role: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        invite = self._book.find(token)
        if invite is None:
            return 404, {"reason": "Такой ссылки нет"}
        reason = invite.refusal(self._now())
        if reason is not None:
            return 410, {"reason": reason}
        if server_of(user) != self._server:
            return 403, {"reason": "Вступить по ссылке можно только с учётной записью этой школы"}
        room = quote(invite.room_id, safe="")
        async with httpx.AsyncClient(
            base_url=f"{self._hs}/_matrix/client/v3",
            headers={"Authorization": f"Bearer {self._as_token}"},
            timeout=30,
        ) as http:
            in_origin = False
            if invite.audience is Audience.CHAT and invite.origin_room:
                origin = quote(invite.origin_room, safe="")
                member = await http.get(
                    f"/rooms/{origin}/state/m.room.member/{quote(user, safe='')}"
                )
                in_origin = member.status_code == 200 and member.json().get("membership") == "join"
            outside = invite.not_for(role, in_origin)
            if outside is not None:
                return 403, {"reason": outside}
            invited = await http.post(f"/rooms/{room}/invite", json={"user_id": user})
            if invited.status_code != 200 and "already in the room" not in invited.text:
                return 403, {"reason": _reason(invited)}
            joined = await http.post(f"/join/{room}", json={}, params={"user_id": user})
            if joined.status_code != 200:
                return 403, {"reason": _reason(joined)}
        return 200, {"room_id": invite.room_id, "name": invite.name}


def _reason(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error") or answer.text)
    except ValueError:
        return answer.text[:200]


def routes(door: InviteDoor, token: str) -> list[Route]:
    def allowed(request: Request) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(given) and same_secret(given, token)

    async def info(request: Request) -> Response:
        if not allowed(request):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        status, body = door.info(request.path_params["token"])
        return JSONResponse(body, status)

    async def join(request: Request) -> Response:
        if not allowed(request):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        try:
            asked = await request.json()
            user = str(asked["user_id"])
            role = str(asked["role"]) if asked.get("role") else None
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"reason": "user_id is required"}, 400)
        status, body = await door.join(request.path_params["token"], user, role)
        return JSONResponse(body, status)

    return [
        Route("/_parta/v1/invites/{token}", info),
        Route("/_parta/v1/invites/{token}/join", join, methods=["POST"]),
    ]
