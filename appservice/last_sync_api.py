"""``GET /_parta/v1/last-sync``: the last whole-school sync, for the diary's status page
(Управление → Состояние). With the diary's token (the link token); 404 when none yet.
"""

from __future__ import annotations

import json

from twisted.web import resource, server

from appservice.store import LAST_SYNC, Store
from kernel.contracts.appservice import LastSync
from kernel.secrets import same_secret


class LastSyncResource(resource.Resource):
    isLeaf = True

    def __init__(self, store: Store, token: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._store, self._token = store, token

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        header = request.getHeader(b"Authorization") or b""
        given = header.removeprefix(b"Bearer ").decode("utf-8", "replace")
        if not header.startswith(b"Bearer ") or not same_secret(given, self._token):
            request.setResponseCode(403)
            return json.dumps({"errcode": "M_FORBIDDEN", "error": "bad token"}).encode()
        found = self._store.snapshot(LAST_SYNC)
        if not isinstance(found, dict):
            request.setResponseCode(404)
            return json.dumps({"errcode": "M_NOT_FOUND", "error": "no sync yet"}).encode()
        return LastSync.model_validate(found).model_dump_json().encode()
