"""``GET /_parta/v1/commands?since=<ms>``: the bots read commands people wrote to them.

The homeserver sends the appservice every event of its rooms (the bots' user cannot
``/sync``: Synapse refuses appservice users there); the appservice stored them
durably before answering. The bots ask with their own token for the messages that
start with ``!``, and the files sent in reply to a message, since a cursor, oldest first::

    bots ──GET /_parta/v1/commands?since=1795…──▶ {"events": [{"received_ms", "event",
                                                               "sender_role"}…],
                                                   "next": <cursor for the next call>}

``sender_role`` is the roster's role of the event's sender (``student``, ``parent``,
``teacher``, ``administrator``, or ``null`` for anyone the diary does not know): the bots
decide who may command them by it, never by power in a room the sender may have made.

The cursor is inclusive (two transactions can share a millisecond): the bots skip
commands they have handled already.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web import resource, server

from appservice.admission import forbidden
from appservice.diary_sync.layout import RoomKind
from appservice.safety_api import SafetyOracle
from appservice.store import Store
from kernel.contracts.appservice import CommandsPage, ReceivedCommand
from kernel.contracts.policy import REPORT_TYPE
from kernel.ids import UserID

COMMANDS_PATH = b"/_parta/v1/commands"


class CommandsResource(resource.Resource):
    isLeaf = True

    def __init__(self, store: Store, token: str, safety: SafetyOracle) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store, self._token, self._safety = store, token, safety

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        if (refused := forbidden(request, (self._token,), "bots token")) is not None:
            return refused
        try:
            since = int((request.args or {}).get(b"since", [b"0"])[0])
        except ValueError:
            request.setResponseCode(400)
            return json.dumps({"errcode": "M_INVALID_PARAM", "error": "since: ms"}).encode()
        found = self._store.commands_since(since)
        page = CommandsPage(
            events=[
                ReceivedCommand(
                    received_ms=ms,
                    event=event,
                    sender_role=self._role(event),
                    moderation_room=self._moderation(event),
                )
                for ms, event in found
            ],
            next=max((ms for ms, _ in found), default=since),
        )
        return page.model_dump_json().encode()

    def _moderation(self, event: dict[str, Any]) -> str | None:
        """The «Модерация» of the reported room's school: a diary room's own school, else
        the one school this appservice serves (a teacher's or a personal chat)."""
        if event.get("type") != REPORT_TYPE:
            return None
        rooms = self._store.room_ids()
        suffix = f".{RoomKind.MODERATION.value}"
        moderation = {k.removesuffix(suffix): r for k, r in rooms.items() if k.endswith(suffix)}
        here = next((k for k, r in rooms.items() if r == event.get("room_id")), None)
        for prefix, room in moderation.items():
            if here is not None and here.startswith(prefix + "."):
                return str(room)
        return str(next(iter(moderation.values()))) if len(moderation) == 1 else None

    def _role(self, event: dict[str, Any]) -> str | None:
        sender = event.get("sender")
        return self._safety.role(UserID(sender)) if isinstance(sender, str) else None
