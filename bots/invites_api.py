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

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.invites import AUDIENCE_LABELS, Audience, Invite, InviteBook
from kernel.contracts.bots import INVITES_PATH, InviteInfo, Joined, JoinRequest
from kernel.ids import RoomID, UserID, server_of
from kernel.matrix import MatrixClient, MatrixError
from kernel.secrets import same_secret


class InviteDoor:
    def __init__(
        self, book: InviteBook, matrix: MatrixClient, server_name: str, now: Callable[[], datetime]
    ) -> None:
        self._book, self._matrix, self._server, self._now = book, matrix, server_name, now

    def info(self, token: str) -> tuple[int, InviteInfo]:
        invite = self._book.find(token)
        if invite is None:
            return 404, InviteInfo(valid=False, reason="Такой ссылки нет")
        reason = invite.refusal(self._now())
        return 200, InviteInfo(
            name=invite.name,
            valid=reason is None,
            reason=reason,
            audience=AUDIENCE_LABELS[invite.audience],
        )

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
        person, room = UserID(user), RoomID(invite.room_id)
        outside = invite.not_for(role, await self._in_origin(invite, person))
        if outside is not None:
            return 403, {"reason": outside}
        try:
            await self._matrix.invite(room, person)
        except MatrixError as e:
            if "already in the room" not in e.message:
                return 403, {"reason": e.message or str(e)}
        try:
            await self._matrix.join(room, person)
        except MatrixError as e:
            return 403, {"reason": e.message or str(e)}
        return 200, Joined(room_id=invite.room_id, name=invite.name).model_dump()

    async def _in_origin(self, invite: Invite, person: UserID) -> bool:
        if invite.audience is not Audience.CHAT or not invite.origin_room:
            return False
        try:
            member = await self._matrix.state_event_or_empty(
                RoomID(invite.origin_room), "m.room.member", person
            )
        except MatrixError:  # the bot no longer sees that chat: nobody is in it for the link
            return False
        return member.get("membership") == "join"


def routes(door: InviteDoor, token: str) -> list[Route]:
    def allowed(request: Request) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(given) and same_secret(given, token)

    async def info(request: Request) -> Response:
        if not allowed(request):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        status, info = door.info(request.path_params["token"])
        return JSONResponse(info.model_dump(), status)

    async def join(request: Request) -> Response:
        if not allowed(request):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        try:
            asked = JoinRequest.model_validate_json(await request.body())
        except ValidationError:
            return JSONResponse({"reason": "user_id is required (and a role, if any, known)"}, 400)
        status, body = await door.join(request.path_params["token"], asked.user_id, asked.role)
        return JSONResponse(body, status)

    return [
        Route(INVITES_PATH + "/{token}", info),
        Route(INVITES_PATH + "/{token}/join", join, methods=["POST"]),
    ]
