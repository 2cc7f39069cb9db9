"""``GET /_parta/v1/readers?room=&event=``: who has read a message (B2, «Кто прочитал»).

::

    diary (for the message's sender, staff only) ──GET /_parta/v1/readers──▶ {sender, read,
        unread} from the receipts the homeserver pushes here (``receive_ephemeral``) and the
        room's membership when the message was sent

Counted on the server, so a page never loads a thousand members' receipts. With the
diary's token (the link token) or the bots' (``!кто``); each decides who may ask.
"""

from __future__ import annotations

import json

from twisted.web import resource, server

from appservice.admission import forbidden
from appservice.store import Store
from kernel.contracts.appservice import ReadersAnswer
from kernel.ids import RoomID


class ReadersResource(resource.Resource):
    isLeaf = True

    def __init__(self, store: Store, tokens: tuple[str, ...], ignore: frozenset[str]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store, self._tokens, self._ignore = store, tokens, ignore

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        if (refused := forbidden(request, self._tokens)) is not None:
            return refused
        args = request.args or {}
        room = args.get(b"room", [b""])[0].decode("utf-8", "replace")
        event = args.get(b"event", [b""])[0].decode("utf-8", "replace")
        if not room or not event:
            request.setResponseCode(400)
            return json.dumps({"errcode": "M_MISSING_PARAM", "error": "room and event"}).encode()
        found = self._store.readers(RoomID(room), event, self._ignore)
        if found is None:
            request.setResponseCode(404)
            return json.dumps({"errcode": "M_NOT_FOUND", "error": "no such message here"}).encode()
        answer = ReadersAnswer(sender=found.sender, read=found.read, unread=found.unread)
        return answer.model_dump_json().encode()
