"""The application service's HTTP side (Twisted): what the homeserver calls.

::

    Synapse ──PUT /_matrix/app/v1/transactions/{txnId}──▶ check hs_token (constant time)
                                                          ├─ store txn + events (one DB transaction)
                                                          ├─ hand new events to the handlers
                                                          └─ 200 {}        (only after the store)
            ──GET /_matrix/app/v1/users/{userId}──────▶ 200 if a puppet we made, else 404
            ──GET /_matrix/app/v1/rooms/{alias}───────▶ 404 at once (rooms are made by the sync)
            ──POST /_matrix/app/v1/ping───────────────▶ 200 {}
    policy module ──POST /_parta/v1/may_enter──▶ a diary room: its members only;
                                                 any other room: the room rule (safe mode)
                  ──POST /_parta/v1/may_create_room, may_open, may_see──▶ (safe mode)
                  (the contract: :mod:`kernel.contracts.policy`)
    diary ──POST /_parta/v1/link──▶ appservice.linking (its own token)
    bots  ──GET /_parta/v1/commands──▶ appservice.commands_api (their own token)

A transaction is acknowledged only once it is durable, so a crash before the
answer makes Synapse retry the same id, and a replay is recognised and dropped.
When the store is away (a database restarting, a full disk) a transaction is held and
tried again for up to ``HOLD_S`` before it is refused with 503: Synapse's own retry
after a refusal needs its database, which in a shared restart is away too, and a batch
it cannot mark for retrying is lost (docs/benchmarks.md, "known gaps").
A malformed event is kept aside with its reason and never fails the transaction.
Tokens and sizes are checked on the headers, before a body is read
(:mod:`appservice.admission`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import unquote

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError
from twisted.web import resource, server

from appservice.admission import MIB, Door, guarded
from appservice.diary_sync.safety import NewRoom, RoomFacts
from appservice.metrics import observe_transaction
from appservice.safety_api import SafetyOracle
from appservice.store import ReceivedEvent, Store
from kernel.contracts.policy import (
    CREATE_PATH,
    ENTER_PATH,
    OPEN_PATH,
    SEE_PATH,
    Answer,
    CreateQuestion,
    EnterQuestion,
    OpenQuestion,
    SeeQuestion,
)
from kernel.health import database, ready
from kernel.ids import RoomID, UserID
from kernel.metrics import UNMATCHED, observe
from kernel.secrets import same_secret

log = logging.getLogger(__name__)

EventHandler = Callable[[Sequence[ReceivedEvent]], None]

_APP = b"/_matrix/app/v1/"
REFUSED_REASON = (
    "Этот чат создан электронным дневником: вступить могут только его участники "
    "(this chat follows the school diary; only its members may join)"
)


class Clock(Protocol):
    """The reactor's timing, or a test's ``twisted.internet.task.Clock``."""

    def seconds(self, /) -> float: ...

    def callLater(self, delay: float, f: Callable[[], None], /) -> Any: ...


HOLD_S = 15.0
"""How long a transaction waits for a store that went away before it is refused."""
HOLD_RETRY_S = 0.5


class AppserviceResource(resource.Resource):
    isLeaf = True

    def __init__(
        self,
        store: Store,
        hs_token: str,
        handlers: Sequence[EventHandler] = (),
        safety: SafetyOracle | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store = store
        self._clock = clock
        self._safety = safety
        self._hs_token = hs_token
        self._handlers = tuple(handlers)
        self._questions: dict[str, tuple[type[BaseModel], Callable[[Any], Answer]]] = {
            ENTER_PATH: (EnterQuestion, self._may_enter),
            CREATE_PATH: (CreateQuestion, self._may_create_room),
            OPEN_PATH: (OpenQuestion, self._may_open),
            SEE_PATH: (SeeQuestion, self._may_see),
        }

    @property
    def store(self) -> Store:
        return self._store

    def render(self, request: server.Request) -> bytes | int:
        request.setHeader(b"Content-Type", b"application/json")
        try:
            status, body = self._route(request)
        except OperationalError as e:  # a full disk, a database that went away
            if _is_transaction(request):
                return self._hold(request, e)
            status, body = self._unavailable(request, e)
        except Exception:  # the edge: never leak a traceback to the homeserver
            log.exception("failed to handle %s", _path(request))
            status, body = 500, _error("M_UNKNOWN", "internal error")
        request.setResponseCode(status)
        return json.dumps(body).encode("utf-8")

    def _hold(self, request: server.Request, first: OperationalError) -> int:
        """Try the transaction again every ``HOLD_RETRY_S`` until the store answers or
        ``HOLD_S`` has passed; the homeserver waits on the open request meanwhile."""
        clock = self._reactor()
        deadline = clock.seconds() + HOLD_S
        log.warning(
            "store away, holding %s for up to %.0f s: %s", _path(request), HOLD_S, first.orig
        )
        pending: list[Any] = []  # the delayed calls (IDelayedCall)

        def again() -> None:
            pending.clear()
            if request.finished or getattr(request, "_disconnected", False):
                return
            if request.content is not None:
                request.content.seek(0)
            try:
                status, body = self._route(request)
            except OperationalError as e:
                if clock.seconds() < deadline:
                    pending.append(clock.callLater(HOLD_RETRY_S, again))
                    return
                status, body = self._unavailable(request, e)
            except Exception:
                log.exception("failed to handle %s", _path(request))
                status, body = 500, _error("M_UNKNOWN", "internal error")
            request.setResponseCode(status)
            request.write(json.dumps(body).encode("utf-8"))
            request.finish()

        def gone(_: object) -> None:
            for call in pending:
                if call.active():
                    call.cancel()

        request.notifyFinish().addErrback(gone)
        pending.append(clock.callLater(HOLD_RETRY_S, again))
        return server.NOT_DONE_YET

    def _reactor(self) -> Clock:
        if self._clock is not None:
            return self._clock
        from twisted.internet import reactor

        clock: Clock = reactor  # the module is the reactor
        return clock

    @staticmethod
    def _unavailable(request: server.Request, e: OperationalError) -> tuple[int, dict[str, Any]]:
        log.error(
            "store unavailable, %s refused (the homeserver will retry): %s", _path(request), e.orig
        )
        return 503, _error("M_UNKNOWN", "the store is unavailable; retry later")

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
        if method == b"POST" and path.decode("ascii", "replace") in self._questions:
            return self._question(path.decode("ascii"), request)
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
        observe_transaction(outcome.new, raw, len(outcome.stored), outcome.rejected)
        if not outcome.new:
            log.info("transaction %s replayed: nothing to do", txn_id)
            return 200, {}
        ephemeral = body.get("ephemeral", body.get("de.sorunome.msc2409.ephemeral"))
        if isinstance(ephemeral, list) and ephemeral:
            self._store.record_receipts(ephemeral)
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

    def _question(self, path: str, request: server.Request) -> tuple[int, dict[str, Any]]:
        """The policy module's questions; the contract is :mod:`kernel.contracts.policy`."""
        model, answer = self._questions[path]
        try:
            question = model.model_validate_json(request.content.read() if request.content else b"")
        except ValidationError as e:
            return 400, _error("M_BAD_JSON", f"{path}: {e.errors()[0]['msg']}")
        if self._safety is None and path != ENTER_PATH:
            return 200, Answer(allowed=True).model_dump()
        return 200, answer(question).model_dump()

    def _may_enter(self, question: EnterQuestion) -> Answer:
        """A diary room admits exactly the diary's members, whoever invites; any other
        room follows the room rule, for which the module sends the members when asked."""
        user = UserID(question.user_id)
        decision = self._store.may_join(RoomID(question.room_id), user)
        if decision.managed:
            if not decision.allowed:
                return Answer(allowed=False, managed=True, reason=REFUSED_REASON)
            if self._safety is None:
                return Answer(allowed=True, managed=True)
            safe = self._safety.may_join(user, question.federates)
            return Answer(allowed=safe.allowed, managed=True, reason=safe.reason)
        if self._safety is None:
            return Answer(allowed=True)
        if question.members is None:
            return Answer(allowed=False, members_needed=True)
        room = RoomFacts(
            frozenset(UserID(m) for m in question.members), question.federates, question.open
        )
        inviter = UserID(question.inviter) if question.inviter else None
        entered = self._safety.may_enter(room, user, inviter)
        return Answer(allowed=entered.allowed, reason=entered.reason)

    def _may_create_room(self, question: CreateQuestion) -> Answer:
        assert self._safety is not None  # noqa: S101 - checked by the caller
        room = NewRoom(
            UserID(question.user_id),
            question.direct,
            tuple(UserID(i) for i in question.invitees),
            question.open,
            question.users_default,
        )
        decision, local_only = self._safety.may_create_room(room)
        return Answer(allowed=decision.allowed, reason=decision.reason, local_only=local_only)

    def _may_open(self, question: OpenQuestion) -> Answer:
        assert self._safety is not None  # noqa: S101 - checked by the caller
        decision = self._safety.may_open(frozenset(UserID(m) for m in question.members))
        return Answer(allowed=decision.allowed, reason=decision.reason)

    def _may_see(self, question: SeeQuestion) -> Answer:
        assert self._safety is not None  # noqa: S101 - checked by the caller
        return Answer(
            allowed=self._safety.may_see(UserID(question.viewer), UserID(question.user_id))
        )


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
        started = time.perf_counter()
        route, method = _route_of(request.path, side is self._homeserver_side), request.method

        def done(_: object) -> None:
            seconds = time.perf_counter() - started
            observe("appservice", method.decode("ascii", "replace"), route, request.code, seconds)

        request.notifyFinish().addBoth(done)
        answer: bytes | int = side.render(request)
        return answer


_TEMPLATES = (
    (_APP + b"transactions/", "/_matrix/app/v1/transactions/{txnId}"),
    (_APP + b"users/", "/_matrix/app/v1/users/{userId}"),
    (_APP + b"rooms/", "/_matrix/app/v1/rooms/{roomAlias}"),
)


def _route_of(path: bytes, homeserver_side: bool) -> str:
    """The route template a request took (an id in the path never becomes a label)."""
    if not homeserver_side:
        return path.decode("ascii", "replace")
    for prefix, template in _TEMPLATES:
        if path.startswith(prefix):
            return template
    known = path == _APP + b"ping" or path.decode("ascii", "replace") in _QUESTION_PATHS
    return path.decode("ascii", "replace") if known else UNMATCHED


_QUESTION_PATHS = frozenset({ENTER_PATH, CREATE_PATH, OPEN_PATH, SEE_PATH})


LINK_PATH = b"/_parta/v1/link"
COMMANDS_PATH = b"/_parta/v1/commands"
READERS_PATH = b"/_parta/v1/readers"
HEALTH_PATH = b"/health"
READY_PATH = b"/ready"


class HealthResource(resource.Resource):
    """``/health``: the process answers; ``/ready``: its database too (the homeserver pushes
    to it, so whether the homeserver is up is the homeserver's own ``/ready``)."""

    isLeaf = True

    def __init__(self, store: Store, check: bool) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store, self._check = store, check

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        if not self._check:
            return b'{"ok": true}'
        code, body = ready([database(self._store.engine)])
        request.setResponseCode(code)
        return json.dumps(body, ensure_ascii=False).encode()


TRANSACTION_MAX_BODY = 32 * MIB
"""Synapse sends at most 100 events and 100 ephemeral events a transaction, ≤ 64 KiB each."""
QUESTION_MAX_BODY = 4 * MIB
"""A question about a room that is not the diary's carries its members."""
SIDE_MAX_BODY = 64 * 1024


def make_site(
    resource_: AppserviceResource,
    hs_token: str,
    sides: Sequence[tuple[bytes, resource.Resource, tuple[str, ...]]] = (),
) -> server.Site:
    """The homeserver's side, and ours (each at its path, with its tokens) beside it."""
    doors = [
        Door(b"/_matrix/app/", (hs_token,), TRANSACTION_MAX_BODY),
        Door(b"/_parta/v1/may_", (hs_token,), QUESTION_MAX_BODY),
    ]
    ours: dict[bytes, resource.Resource] = {
        HEALTH_PATH: HealthResource(resource_.store, check=False),
        READY_PATH: HealthResource(resource_.store, check=True),
    }
    doors += [Door(HEALTH_PATH, (), 0, public=True), Door(READY_PATH, (), 0, public=True)]
    for path, side, tokens in sides:
        ours[path] = side
        doors.append(Door(path, tokens, SIDE_MAX_BODY))
    site = server.Site(_Root(resource_, ours))
    site.requestFactory = guarded(doors)
    return site


def _path(request: server.Request) -> str:
    return request.path.decode("utf-8", "replace")


def _is_transaction(request: server.Request) -> bool:
    return request.method == b"PUT" and request.path.startswith(_APP + b"transactions/")
