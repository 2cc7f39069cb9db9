"""The application service's HTTP side (Twisted): what the homeserver calls.

::

    Synapse ──PUT /_matrix/app/v1/transactions/{txnId}──▶ check hs_token (constant time)
                                                          ├─ store txn + events (one DB transaction)
                                                          ├─ hand new events to the handlers
                                                          └─ 200 {}        (only after the store)
            ──GET /_matrix/app/v1/users/{userId}──────▶ 200 if a puppet we made, else 404
            ──GET /_matrix/app/v1/rooms/{alias}───────▶ 404 at once (rooms are made by the sync)
            ──POST /_matrix/app/v1/ping───────────────▶ 200 {}
    policy module ──GET /_parta/v1/may_join?room_id&user_id&federates──▶ {"allowed": …, "reason": …}
                  ──GET /_parta/v1/may_invite?inviter&invitee&federates──▶ (safe mode)
                  ──GET /_parta/v1/may_create_room?user_id&direct──▶ (safe mode)
    diary ──POST /_parta/v1/link──▶ appservice.linking (its own token)

A transaction is acknowledged only once it is durable, so a crash before the
answer makes Synapse retry the same id, and a replay is recognised and dropped.
A malformed event is kept aside with its reason and never fails the transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from twisted.web import resource, server

from appservice.safety_api import SafetyOracle
from appservice.store import ReceivedEvent, Store
from parta.ids import RoomID, UserID
from parta.secrets import same_secret

log = logging.getLogger(__name__)

EventHandler = Callable[[Sequence[ReceivedEvent]], None]

_APP = b"/_matrix/app/v1/"
REFUSED_REASON = (
    "Этот чат создан электронным дневником: вступить могут только его участники "
    "(this chat follows the school diary; only its members may join)"
)


class AppserviceResource(resource.Resource):
    isLeaf = True

    def __init__(
        self,
        store: Store,
        hs_token: str,
        handlers: Sequence[EventHandler] = (),
        safety: SafetyOracle | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store = store
        self._safety = safety
        self._hs_token = hs_token
        self._handlers = tuple(handlers)

    def render(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        try:
            status, body = self._route(request)
        except Exception:  # the edge: never leak a traceback to the homeserver
            log.exception("failed to handle %s", request.path.decode("utf-8", "replace"))
            status, body = 500, _error("M_UNKNOWN", "internal error")
        request.setResponseCode(status)
        return json.dumps(body).encode("utf-8")

    def _route(self, request: server.Request) -> tuple[int, dict[str, Any]]:
        denied = self._authorise(request)
        if denied is not None:
            return denied
        path, method = request.path, request.method
        if path.startswith(_APP + b"transactions/") and method == b"PUT":
            return self._transaction(_tail(path, _APP + b"transactions/"), request)
        if path.startswith(_APP + b"users/") and method == b"GET":
            return self._user(_tail(path, _APP + b"users/"))
        if path.startswith(_APP + b"rooms/") and method == b"GET":
            return 404, _error("M_NOT_FOUND", "rooms are created by the diary sync")
        if path == _APP + b"ping" and method == b"POST":
            return 200, {}
        if path == b"/_parta/v1/may_join" and method == b"GET":
            return self._may_join(request)
        if path == b"/_parta/v1/may_invite" and method == b"GET":
            return self._may_invite(request)
        if path == b"/_parta/v1/may_create_room" and method == b"GET":
            return self._may_create_room(request)
        return 404, _error("M_UNRECOGNIZED", "unknown endpoint")

    def _authorise(self, request: server.Request) -> tuple[int, dict[str, Any]] | None:
        token = _bearer(request)
        if token is None:
            return 401, _error("M_UNAUTHORIZED", "missing token")
        if not same_secret(token, self._hs_token):
            return 403, _error("M_FORBIDDEN", "bad token")
        return None

    def _transaction(self, txn_id: str, request: server.Request) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(request.content.read() if request.content else b"{}")
        except ValueError:
            return 400, _error("M_NOT_JSON", "the body is not JSON")
        raw = body.get("events", []) if isinstance(body, dict) else None
        if not isinstance(raw, list):
            return 400, _error("M_BAD_JSON", "events must be a list")
        outcome = self._store.record_transaction(txn_id, raw)
        if not outcome.new:
            log.info("transaction %s replayed: nothing to do", txn_id)
            return 200, {}
        if outcome.rejected:
            log.warning("transaction %s: %d malformed events kept aside", txn_id, outcome.rejected)
        for handler in self._handlers:
            try:
                handler(outcome.stored)
            except Exception:
                log.exception("event handler failed on transaction %s", txn_id)
        return 200, {}

    def _user(self, user_id: str) -> tuple[int, dict[str, Any]]:
        if self._store.is_puppet(UserID(user_id)):
            return 200, {}
        return 404, _error("M_NOT_FOUND", "not a diary person")

    def _may_join(self, request: server.Request) -> tuple[int, dict[str, Any]]:
        room = _arg(request, b"room_id")
        user = _arg(request, b"user_id")
        if not room or not user:
            return 400, _error("M_MISSING_PARAM", "room_id and user_id are required")
        decision = self._store.may_join(RoomID(room), UserID(user))
        if decision.allowed and self._safety is not None:
            safe = self._safety.may_join(UserID(user), _arg(request, b"federates") == "1")
            if not safe.allowed:
                return 200, {"allowed": False, "managed": decision.managed, "reason": safe.reason}
        reason = "" if decision.allowed else REFUSED_REASON
        return 200, {"allowed": decision.allowed, "managed": decision.managed, "reason": reason}

    def _may_invite(self, request: server.Request) -> tuple[int, dict[str, Any]]:
        inviter, invitee = _arg(request, b"inviter"), _arg(request, b"invitee")
        if not inviter or not invitee:
            return 400, _error("M_MISSING_PARAM", "inviter and invitee are required")
        if self._safety is None:
            return 200, {"allowed": True, "reason": ""}
        federates = _arg(request, b"federates") == "1"
        decision = self._safety.may_invite(UserID(inviter), UserID(invitee), federates)
        return 200, {"allowed": decision.allowed, "reason": decision.reason}

    def _may_create_room(self, request: server.Request) -> tuple[int, dict[str, Any]]:
        creator = _arg(request, b"user_id")
        if not creator:
            return 400, _error("M_MISSING_PARAM", "user_id is required")
        if self._safety is None:
            return 200, {"allowed": True, "reason": "", "local_only": False}
        direct = _arg(request, b"direct") == "1"
        invitees = [UserID(i) for i in _arg(request, b"invitees").split(",") if i]
        decision = self._safety.may_create_room(UserID(creator), direct)
        local_only = self._safety.holds_a_student([UserID(creator), *invitees])
        return 200, {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "local_only": local_only,
        }


def _tail(path: bytes, prefix: bytes) -> str:
    return unquote(path[len(prefix) :].decode("utf-8", "replace"))


def _arg(request: server.Request, name: bytes) -> str:
    values = (request.args or {}).get(name, [])
    return values[0].decode("utf-8", "replace") if values else ""


def _bearer(request: server.Request) -> str | None:
    header = request.getHeader(b"Authorization")
    if header and header.startswith(b"Bearer "):
        return header[len(b"Bearer ") :].decode("utf-8", "replace")
    legacy = _arg(request, b"access_token")
    return legacy or None


def _error(errcode: str, message: str) -> dict[str, Any]:
    return {"errcode": errcode, "error": message}


class _Root(resource.Resource):
    """The homeserver's endpoints, and ours beside them (``/_parta/v1/link`` for the diary,
    ``/_parta/v1/commands`` for the bots)."""

    isLeaf = True

    def __init__(
        self, homeserver_side: resource.Resource, ours: dict[bytes, resource.Resource]
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._homeserver_side, self._ours = homeserver_side, ours

    def render(self, request: server.Request) -> bytes | int:
        side = self._ours.get(request.path, self._homeserver_side)
        answer: bytes | int = side.render(request)
        return answer


def make_site(
    resource_: AppserviceResource,
    diary_side: resource.Resource | None = None,
    bots_side: resource.Resource | None = None,
) -> server.Site:
    ours = {
        path: side
        for path, side in ((b"/_parta/v1/link", diary_side), (b"/_parta/v1/commands", bots_side))
        if side is not None
    }
    return server.Site(_Root(resource_, ours) if ours else resource_)
