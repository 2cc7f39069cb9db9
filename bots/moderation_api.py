"""``GET /_parta/v1/moderation``: the diary reads the moderators' actions (the audit trail).

With the diary's token for the bots (the same as for invite links and homework).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.moderation_feature import ModerationBook
from kernel.contracts.bots import MODERATION_PATH, ModerationAction, ModerationLog
from kernel.secrets import same_secret


def routes(book: ModerationBook, token: str) -> list[Route]:
    async def history(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not same_secret(given, token):
            return JSONResponse({"reason": "a valid diary token is required"}, 401)
        shown = set(ModerationAction.model_fields)
        found = ModerationLog(
            actions=[
                ModerationAction(**{k: v for k, v in row.items() if k in shown})
                for row in book.history()
            ]
        )
        return Response(found.model_dump_json(), media_type="application/json")

    return [Route(MODERATION_PATH, history)]
