"""The diary's door to meetings (D6): ``POST /_parta/v1/meetings``.

::

    diary («Управление → Собрания», the organiser's target checked there)
        ──POST /_parta/v1/meetings {key, organiser, title, starts_at, ends_at,
                                   room_alias | parent}──▶ the bot posts the invitation
        ◀── {room_id, call_url} or {reason}

A parents' chat must give the organiser staff power (the same check as ``!собрание``);
a one-to-one meeting gets a room of its own. ``key`` makes a retried request a no-op.
With the diary's token for the bots (a secret file), compared in constant time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.meeting_feature import Meetings
from bots.meetings import Meeting
from kernel.secrets import same_secret


def _meeting(body: dict[str, Any], now: datetime) -> Meeting:
    title = str(body.get("title", "")).strip()
    starts = datetime.fromisoformat(str(body["starts_at"]))
    ends = datetime.fromisoformat(str(body["ends_at"]))
    if not title or len(title) > 200:
        raise ValueError("title: 1 to 200 characters")
    if not now < starts < ends:
        raise ValueError("starts_at must be ahead and before ends_at")
    return Meeting(title, starts, ends)


def routes(meetings: Meetings, token: str, now: Callable[[], datetime]) -> list[Route]:
    async def create(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, token):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        try:
            body = await request.json()
            key, organiser = f"diary:{body['key']}", str(body["organiser"])
            meeting = _meeting(body, now())
        except (ValueError, KeyError, TypeError) as e:
            return JSONResponse({"reason": f"bad request: {e}"}, 400)
        if body.get("parent"):
            room = await meetings.one_to_one_room(
                key, organiser, str(body["parent"]), meeting.title
            )
        else:
            found = await meetings.resolve(str(body.get("room_alias", "")))
            if found is None:
                return JSONResponse({"reason": "Такого чата нет"}, 404)
            if not await meetings.may_call(found, organiser):
                return JSONResponse(
                    {"reason": "Назначать собрания в этом чате могут учителя и администрация"}, 403
                )
            room = found
        url = await meetings.post(room, meeting, key)
        return JSONResponse({"room_id": room, "call_url": url})

    return [Route("/_parta/v1/meetings", create, methods=["POST"])]
