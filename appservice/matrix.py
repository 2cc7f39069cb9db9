"""The client-server API as the appservice speaks it: raw HTTP with masquerading.

matrix-nio cannot act as other users (``?user_id=``), so the appservice talks
HTTP itself. Every method maps to one request; errors become typed
:class:`~appservice.errors.MatrixError` subclasses. Transient failures (429,
5xx, connection resets) are retried with backoff a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from appservice.errors import HomeserverUnreachable, LimitExceeded, MatrixError, matrix_error
from parta.ids import RoomAlias, RoomID, UserID

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
_CS = "/_matrix/client/v3"


def _q(part: str) -> str:
    return quote(part, safe="")


class MatrixClient:
    """One homeserver, one appservice token; ``as_user`` masquerades as a puppet."""

    def __init__(
        self, base_url: str, as_token: str, *, attempts: int = 5, timeout: float = 60.0
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {as_token}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._attempts = attempts
        self.requests = 0
        """Requests sent, retries included: the benchmark's write counter reads it."""

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        as_user: UserID | None = None,
    ) -> JsonDict:
        params = {"user_id": as_user} if as_user else None
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._once(method, path, body, params)
            except (LimitExceeded, HomeserverUnreachable, MatrixError) as e:
                if not e.transient or attempt == self._attempts:
                    raise
                delay = (
                    e.retry_after_ms / 1000 if isinstance(e, LimitExceeded) else 0.2 * 2**attempt
                )
                log.warning("retrying %s %s in %.1fs: %s", method, path, delay, e)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _once(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> JsonDict:
        self.requests += 1
        try:
            response = await self._http.request(method, path, json=body, params=params)
        except httpx.TransportError as e:
            raise HomeserverUnreachable(f"{method} {path}: {e!r}") from e
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            raise matrix_error(response.status_code, data, path)
        return data if isinstance(data, dict) else {"chunk": data}

    # -- users -------------------------------------------------------------------------------

    async def register(self, localpart: str) -> None:
        body = {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
        await self.request("POST", f"{_CS}/register", body)

    async def set_display_name(self, user: UserID, name: str) -> None:
        path = f"{_CS}/profile/{_q(user)}/displayname"
        await self.request("PUT", path, {"displayname": name}, as_user=user)

    # -- rooms -------------------------------------------------------------------------------

    async def resolve_alias(self, alias: RoomAlias) -> RoomID | None:
        try:
            data = await self.request("GET", f"{_CS}/directory/room/{_q(alias)}")
        except MatrixError as e:
            if e.status == 404:
                return None
            raise
        return RoomID(data["room_id"])

    async def create_room(self, body: Mapping[str, Any]) -> RoomID:
        data = await self.request("POST", f"{_CS}/createRoom", body)
        return RoomID(data["room_id"])

    async def hierarchy(self, space: RoomID) -> list[JsonDict]:
        """The space and its direct children (name, topic, ``children_state``), all pages."""
        rooms: list[JsonDict] = []
        token = ""
        while True:
            query = "?max_depth=1&limit=100" + (f"&from={_q(token)}" if token else "")
            data = await self.request(
                "GET", f"/_matrix/client/v1/rooms/{_q(space)}/hierarchy{query}"
            )
            rooms.extend(r for r in data.get("rooms", []) if isinstance(r, dict))
            token = str(data.get("next_batch") or "")
            if not token:
                return rooms

    async def joined_members(self, room: RoomID) -> list[UserID]:
        data = await self.request("GET", f"{_CS}/rooms/{_q(room)}/joined_members")
        return [UserID(u) for u in data.get("joined", {})]

    async def state_event_or_empty(
        self, room: RoomID, event_type: str, state_key: str = ""
    ) -> JsonDict:
        try:
            return await self.state_event(room, event_type, state_key)
        except MatrixError as e:
            if e.status == 404:
                return {}
            raise

    async def state_event(self, room: RoomID, event_type: str, state_key: str = "") -> JsonDict:
        path = f"{_CS}/rooms/{_q(room)}/state/{_q(event_type)}/{_q(state_key)}"
        return await self.request("GET", path)

    async def send_state(
        self,
        room: RoomID,
        event_type: str,
        content: Mapping[str, Any],
        state_key: str = "",
        as_user: UserID | None = None,
    ) -> None:
        path = f"{_CS}/rooms/{_q(room)}/state/{_q(event_type)}/{_q(state_key)}"
        await self.request("PUT", path, content, as_user=as_user)

    async def join(self, room: RoomID, user: UserID) -> None:
        await self.request("POST", f"{_CS}/join/{_q(room)}", {}, as_user=user)

    async def join_alias(self, alias: RoomAlias, user: UserID) -> RoomID:
        """Join by alias: the homeserver resolves it (over federation when remote)."""
        data = await self.request("POST", f"{_CS}/join/{_q(alias)}", {}, as_user=user)
        return RoomID(data["room_id"])

    async def leave(self, room: RoomID, user: UserID) -> None:
        await self.request("POST", f"{_CS}/rooms/{_q(room)}/leave", {}, as_user=user)

    async def invite(self, room: RoomID, user: UserID) -> None:
        await self.request("POST", f"{_CS}/rooms/{_q(room)}/invite", {"user_id": user})

    async def kick(self, room: RoomID, user: UserID, reason: str) -> None:
        body = {"user_id": user, "reason": reason}
        await self.request("POST", f"{_CS}/rooms/{_q(room)}/kick", body)


async def login_as(client: MatrixClient, user: UserID) -> str:
    """An access token for a puppet (``m.login.application_service``): for the demo's users."""
    body = {
        "type": "m.login.application_service",
        "identifier": {"type": "m.id.user", "user": user},
        "initial_device_display_name": "parta demo",
    }
    data = await client.request("POST", f"{_CS}/login", body)
    return str(data["access_token"])
