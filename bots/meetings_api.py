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
from datetime import datetime, timedelta

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.meeting_feature import Meetings
from bots.meetings import Meeting
from kernel.contracts.bots import MEETINGS_PATH, MeetingPosted, MeetingRequest
from kernel.secrets import same_secret

STARTED_NOW = timedelta(minutes=5)
"""A meeting the diary starts «сейчас» began a moment ago by the time it reaches the bots."""


def _meeting(asked: MeetingRequest, now: datetime) -> Meeting:
    title = asked.title.strip()
    if not title or len(title) > 200:
        raise ValueError("title: 1 to 200 characters")
    if not now - STARTED_NOW < asked.starts_at < asked.ends_at or asked.ends_at <= now:
        raise ValueError("starts_at must be ahead (or just now) and before ends_at")
    return Meeting(title, asked.starts_at, asked.ends_at)


def routes(meetings: Meetings, token: str, now: Callable[[], datetime]) -> list[Route]:
    async def create(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, token):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        try:
            asked = MeetingRequest.model_validate_json(await request.body())
            meeting = _meeting(asked, now())
        except (ValidationError, ValueError) as e:
            return JSONResponse({"reason": f"bad request: {e}"}, 400)
        key, organiser = f"diary:{asked.key}", asked.organiser
        if asked.parent:
            room = await meetings.one_to_one_room(key, organiser, asked.parent, meeting.title)
        else:
            found = await meetings.resolve(asked.room_alias or "")
            if found is None:
                return JSONResponse({"reason": "Такого чата нет"}, 404)
            if not await meetings.may_call(found, organiser):
                return JSONResponse(
                    {"reason": "Назначать собрания в этом чате могут учителя и администрация"}, 403
                )
            room = found
        url = await meetings.post(room, meeting, key)
        return JSONResponse(MeetingPosted(room_id=room, call_url=url).model_dump())

    return [Route(MEETINGS_PATH, create, methods=["POST"])]
