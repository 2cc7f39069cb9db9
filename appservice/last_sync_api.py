"""``GET /_parta/v1/last-sync``: the last whole-school sync, for the diary's status page
(Управление → Состояние). With the diary's token (the link token); 404 when none yet.
"""

from __future__ import annotations

import json

from twisted.web import resource, server

from appservice.admission import forbidden
from appservice.store import LAST_SYNC, Store
from kernel.contracts.appservice import LastSync


class LastSyncResource(resource.Resource):
    isLeaf = True

    def __init__(self, store: Store, token: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store, self._token = store, token

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        if (refused := forbidden(request, (self._token,))) is not None:
            return refused
        found = self._store.snapshot(LAST_SYNC)
        if not isinstance(found, dict):
            request.setResponseCode(404)
            return json.dumps({"errcode": "M_NOT_FOUND", "error": "no sync yet"}).encode()
        return LastSync.model_validate(found).model_dump_json().encode()
