"""``POST /_parta/v1/link``: the diary asks the appservice to link a person (Twisted side).

::

    diary ──POST /_parta/v1/link {person_id, user_id?}──▶ check the diary token (constant time)
                                                        ├─ last synced diary from the store
                                                        ├─ SchoolSync.link (one at a time)
                                                        └─ 200 {user_id, rooms, actions, failed}

The link runs on asyncio (the appservice runs Twisted on the asyncio reactor), so
the request is answered when the person's rooms are joined, or with the reason
it was refused: 403 for a student's account on another server, 404 for a person
the diary does not know, 503 before the first sync.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from twisted.web import resource, server

from appservice.admission import forbidden
from appservice.diary_sync.plan import describe
from appservice.diary_sync.snapshot import from_snapshot
from appservice.errors import SYNC_FAILURES
from appservice.metrics import LINKS, link_result
from appservice.school_sync import SNAPSHOT, LinkError, SchoolSync, SyncOptions
from appservice.store import Store
from kernel.contracts.appservice import Linked, LinkRequest
from kernel.ids import SourcedId, UserID

log = logging.getLogger(__name__)
LINK_PATH = b"/_parta/v1/link"


class LinkResource(resource.Resource):
    isLeaf = True

    def __init__(self, store: Store, school: Callable[[], SchoolSync], token: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store, self._school, self._token = store, school, token
        self._one_at_a_time = asyncio.Lock()

    def render_POST(self, request: server.Request) -> bytes | int:
        request.setHeader(b"Content-Type", b"application/json")
        if (refused := forbidden(request, (self._token,), "diary token")) is not None:
            return refused
        try:
            asked = LinkRequest.model_validate_json(
                request.content.read() if request.content else b""
            )
        except ValidationError:
            return _answer(request, 400, _error("M_BAD_JSON", "person_id is required"))
        person = SourcedId(asked.person_id)
        account = UserID(asked.user_id) if asked.user_id else None
        task = asyncio.ensure_future(self._link(person, account))
        task.add_done_callback(lambda done: _finish(request, done))
        return server.NOT_DONE_YET

    async def _link(self, person: SourcedId, account: UserID | None) -> tuple[int, dict[str, Any]]:
        stored = self._store.snapshot(SNAPSHOT)
        if stored is None:
            return 503, _error("M_NOT_READY", "no diary synced yet: run `parta sync` first")
        diary = from_snapshot(stored)
        if person not in diary.people:
            return 404, _error("M_NOT_FOUND", f"{person}: no such person in the diary")
        stored_account = self._store.accounts().get(person)
        if account is None and stored_account is not None and not stored_account.puppet:
            account = stored_account.user_id  # linked before to their own account: keep it
        async with self._one_at_a_time:
            school = self._school()
            try:
                result = await school.link(diary, person, account, SyncOptions())
            except LinkError as e:
                return 403, _error("M_FORBIDDEN", str(e))
            except SYNC_FAILURES as e:
                log.warning("linking %s failed: %s", person, e)
                return 502, _error("M_UNKNOWN", str(e))
            failed = [] if result.report is None else result.report.failed
            linked = self._store.accounts()[person].user_id
            ids = self._store.room_ids()
            rooms = sorted(
                ids[key]
                for key, room in school.desired(diary, eager=False).rooms.items()
                if linked in room.members and key in ids
            )
        answer = Linked(
            user_id=linked,
            rooms=rooms,
            actions=len(result.actions),
            failed=[f"{describe(action)}: {error}" for action, error in failed],
        )
        return 200, answer.model_dump()


def _finish(request: server.Request, done: asyncio.Future[tuple[int, dict[str, Any]]]) -> None:
    try:
        status, body = done.result()
    except Exception:
        log.exception("linking failed")
        status, body = 500, _error("M_UNKNOWN", "internal error")
    LINKS.labels(link_result(status)).inc()
    if request.finished or getattr(request, "_disconnected", False):
        return
    request.setResponseCode(status)
    request.write(json.dumps(body).encode("utf-8"))
    request.finish()


def _answer(request: server.Request, status: int, body: dict[str, Any]) -> bytes:
    request.setResponseCode(status)
    return json.dumps(body).encode("utf-8")


def _error(errcode: str, message: str) -> dict[str, Any]:
    return {"errcode": errcode, "error": message}
