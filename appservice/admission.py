"""What a request to the appservice must show before its body is read: a token, a size.

Twisted reads a whole request body (into memory, or a temporary file past 100 KB)
before any resource sees the request, so a stranger could make it swallow hundreds
of megabytes before hearing «401». Here the answer comes as soon as the headers are
in::

    headers in ──▶ path's door: which tokens open it, how big a body may be
        no or wrong token ──▶ 401/403 now, connection closed, body never read
        Content-Length over the cap ──▶ 413 now, connection closed
        body grows past the cap (chunked) ──▶ 413, connection closed
        otherwise ──▶ the body is read and the resource answers as usual

The resources still check their own token: this is the first door, not the only one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.web import http, server

from kernel.secrets import same_secret

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Door:
    """Requests whose path starts with ``prefix``: opened by any of ``tokens``."""

    prefix: bytes
    tokens: tuple[str, ...]
    max_body: int = MIB
    public: bool = False
    """Opened without a token (``/health``, ``/ready``: they tell nothing private)."""


def door_for(doors: Sequence[Door], path: bytes) -> Door | None:
    """The longest prefix wins; no door: refused."""
    found = [d for d in doors if path.startswith(d.prefix)]
    return max(found, key=lambda d: len(d.prefix)) if found else None


def refusal(
    doors: Sequence[Door], path: bytes, token: str | None, length: int | None
) -> tuple[int, str, str] | None:
    """(status, errcode, message) to answer at once, or None to read the body."""
    door = door_for(doors, path)
    if door is None:
        return 404, "M_UNRECOGNIZED", "unknown endpoint"
    if door.public:
        if length is not None and length > door.max_body:
            return 413, "M_TOO_LARGE", f"the body is larger than {door.max_body} bytes"
        return None
    if token is None:
        return 401, "M_UNAUTHORIZED", "missing token"
    if not any(same_secret(token, t) for t in door.tokens):
        return 403, "M_FORBIDDEN", "bad token"
    if length is not None and length > door.max_body:
        return 413, "M_TOO_LARGE", f"the body is larger than {door.max_body} bytes"
    return None


def bearer(authorization: bytes | None, query: bytes) -> str | None:
    """The token from ``Authorization: Bearer`` or the legacy ``access_token`` parameter."""
    if authorization and authorization.startswith(b"Bearer "):
        return authorization[len(b"Bearer ") :].decode("utf-8", "replace")
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == b"access_token" and value:
            return unquote_to_bytes(value).decode("utf-8", "replace")
    return None


def forbidden(request: server.Request, tokens: Sequence[str], what: str = "token") -> bytes | None:
    """A resource's own token check: the 403 body to answer, or None when a token fits.

    Only ``Authorization: Bearer`` counts here (the resources are ours, not the spec's).
    """
    header = request.getHeader(b"Authorization") or b""
    given = header.removeprefix(b"Bearer ").decode("utf-8", "replace")
    if header.startswith(b"Bearer ") and any(same_secret(given, t) for t in tokens):
        return None
    request.setResponseCode(403)
    return json.dumps({"errcode": "M_FORBIDDEN", "error": f"bad {what}"}).encode()


class GuardedRequest(server.Request):
    """A request that is refused on its headers, before its body is read."""

    doors: Sequence[Door] = ()
    _refused = False

    def gotLength(self, length: int | None) -> None:
        uri: bytes = getattr(self.channel, "_path", b"") or b""
        path, _, query = uri.partition(b"?")
        token = bearer(self.requestHeaders.getRawHeaders(b"Authorization", [None])[0], query)
        answer = refusal(self.doors, path, token, length)
        if answer is not None:
            self._refuse(*answer)
            return
        super().gotLength(length)  # type: ignore[no-untyped-call]

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        door = door_for(self.doors, getattr(self.channel, "_path", b"").partition(b"?")[0])
        limit = door.max_body if door else 0
        if self.content is not None and self.content.tell() + len(data) > limit:
            self._refuse(413, "M_TOO_LARGE", f"the body is larger than {limit} bytes")
            return
        super().handleContentChunk(data)  # type: ignore[no-untyped-call]

    def process(self) -> None:
        if not self._refused:
            super().process()  # type: ignore[no-untyped-call]

    def _refuse(self, status: int, errcode: str, message: str) -> None:
        self._refused = True
        self.content = io.BytesIO()
        body = json.dumps({"errcode": errcode, "error": message}).encode()
        reason = http.RESPONSES.get(status, b"Refused")
        head = (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (status, reason, len(body))
        )
        channel: Any = self.channel
        channel.transport.write(head + body)
        channel.loseConnection()


def guarded(doors: Sequence[Door]) -> type[GuardedRequest]:
    """A request factory for :class:`twisted.web.server.Site` with these doors."""

    class _Request(GuardedRequest):
        pass

    _Request.doors = tuple(doors)
    return _Request
