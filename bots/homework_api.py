"""``GET /_parta/v1/homework?room=<room id or alias>``: the diary reads homework and who
handed it in.

With the diary's token for the bots (the same as for invite links).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.homework import HomeworkBook
from kernel.contracts.bots import HOMEWORK_PATH, HandIn, HomeworkList, HomeworkTask
from kernel.ids import RoomAlias
from kernel.matrix import MatrixClient, MatrixFailure
from kernel.secrets import same_secret


def routes(book: HomeworkBook, token: str, matrix: MatrixClient | None = None) -> list[Route]:
    async def homework(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, token):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        room = request.query_params.get("room", "")
        if not room:
            return JSONResponse({"reason": "room is required"}, 400)
        if room.startswith("#") and matrix is not None:  # the diary knows a class chat's alias
            try:
                found = await matrix.resolve_alias(RoomAlias(room))
            except MatrixFailure:
                return JSONResponse({"reason": "the homeserver is not answering"}, 503)
            if found is None:
                return JSONResponse({"reason": "no such chat"}, 404)
            room = str(found)
        answer = HomeworkList(
            room_id=room,
            homework=[
                HomeworkTask(
                    event_id=h.event_id,
                    text=h.text,
                    set_by=h.set_by,
                    set_at=h.set_at_ms,
                    handed_in=[
                        HandIn(student=i.student, file=i.filename, at=i.at_ms)
                        for i in book.handed_in(h.event_id)
                    ],
                )
                for h in book.of_room(room)
            ],
        )
        return JSONResponse(answer.model_dump())

    return [Route(HOMEWORK_PATH, homework)]
