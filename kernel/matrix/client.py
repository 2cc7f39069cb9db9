"""The client-server API as parta speaks it: one client for every component.

::

    component ──request(method, path, body, as_user)──▶ homeserver
                 ├─ 2xx ─────────────────────────────▶ the JSON body
                 ├─ 429 / 5xx / no answer ───────────▶ retried with backoff (429: as told by
                 │                                      ``retry_after_ms``), a bounded number
                 │                                      of times, then raised
                 └─ 4xx ─────────────────────────────▶ raised at once as its errcode's type
                                                        (:mod:`kernel.matrix.errors`)

An appservice's token with ``as_user`` masquerades as one of its users (matrix-nio cannot);
a person's or a bot's own token works the same without it. Every method is one request,
except :meth:`MatrixClient.power_levels` (two: the levels and the create event, for room
version 12's creators).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from kernel.ids import RoomAlias, RoomID, UserID
from kernel.matrix.errors import (
    CannotGrantJoinYet,
    HomeserverUnreachable,
    LimitExceeded,
    MatrixError,
    MatrixFailure,
    NotFound,
    matrix_error,
)
from kernel.matrix.power import PowerLevels

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
MAX_BACKOFF_S = 5.0
GRANT_ATTEMPTS = 20
"""A restricted join nobody can grant yet: tried for about a minute (a Synapse worker that
handles the join sees the new room's members only once replication reaches it; on a loaded
two-core host with workers, 6 s was seen not to be enough)."""
CS = "/_matrix/client/v3"
MEDIA = "/_matrix/media/v3"


def q(part: str) -> str:
    """One path segment: room ids, aliases and user ids carry ``!#@:`` and more."""
    return quote(part, safe="")


class MatrixClient:
    """One homeserver, one token (an appservice's, a bot's or a person's; ``None`` before a
    login)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        attempts: int = 5,
        outage_s: float = 0.0,
        timeout: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.homeserver = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.homeserver,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            transport=transport,
        )
        self._attempts, self._sleep = attempts, sleep
        self._outage_s = outage_s
        """How long a homeserver that does not answer at all (restarting) is waited for,
        beyond ``attempts``: a long job rides out a restart instead of failing each step."""
        self.requests = 0
        """Requests sent, retries included: the benchmark's write counter reads it."""

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MatrixClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        as_user: UserID | str | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonDict:
        query = {**(params or {}), **({"user_id": as_user} if as_user else {})}
        attempt = 0
        outage_ends = time.monotonic() + self._outage_s
        while True:
            attempt += 1
            try:
                return await self._once(method, path, body, query, content, headers)
            except MatrixFailure as e:
                # a worker catching up on a new room may take longer than a hiccup
                limit = GRANT_ATTEMPTS if isinstance(e, CannotGrantJoinYet) else self._attempts
                waiting = isinstance(e, HomeserverUnreachable) and time.monotonic() < outage_ends
                if not e.transient or (attempt >= limit and not waiting):
                    raise
                delay = (
                    e.retry_after_ms / 1000
                    if isinstance(e, LimitExceeded)
                    else min(0.2 * 2**attempt, MAX_BACKOFF_S)
                )
                log.warning("retrying %s %s in %.1fs: %s", method, path, delay, e)
                await self._sleep(delay)

    async def _once(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str],
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> JsonDict:
        self.requests += 1
        try:
            response = await self._http.request(
                method,
                path,
                json=body if content is None else None,
                content=content,
                params=params or None,
                headers=headers,
            )
        except httpx.TransportError as e:
            raise HomeserverUnreachable(f"{method} {path}: {type(e).__name__}") from e
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            raise matrix_error(response.status_code, data, path)
        return data if isinstance(data, dict) else {"chunk": data}

    # -- accounts ----------------------------------------------------------------------------

    async def whoami(self) -> UserID:
        return UserID(str((await self.request("GET", f"{CS}/account/whoami"))["user_id"]))

    async def password_login(self, user: UserID, password: str, device_name: str) -> str:
        """A new device's access token for ``user`` (the token-less client of a homeserver)."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
            "initial_device_display_name": device_name,
        }
        found = await self.request("POST", f"{CS}/login", body)
        if found.get("user_id") != user:
            raise MatrixError(200, "M_FORBIDDEN", "logged in as somebody else", f"{CS}/login")
        return str(found["access_token"])

    async def logout(self) -> None:
        await self.request("POST", f"{CS}/logout", {})

    async def register(self, localpart: str) -> None:
        """An appservice user, without a device or a token of its own."""
        body = {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
        await self.request("POST", f"{CS}/register", body)

    async def login_as(self, user: UserID, device_name: str = "parta") -> str:
        """An access token for one of the appservice's users (a new device)."""
        body = {
            "type": "m.login.application_service",
            "identifier": {"type": "m.id.user", "user": user},
            "initial_device_display_name": device_name,
        }
        return str((await self.request("POST", f"{CS}/login", body))["access_token"])

    async def set_display_name(self, user: UserID, name: str) -> None:
        path = f"{CS}/profile/{q(user)}/displayname"
        await self.request("PUT", path, {"displayname": name}, as_user=user)

    async def account_data(self, user: UserID, kind: str) -> JsonDict:
        """The user's account data of that type; ``{}`` when there is none."""
        try:
            return await self.request("GET", f"{CS}/user/{q(user)}/account_data/{q(kind)}")
        except NotFound:
            return {}

    async def set_account_data(self, user: UserID, kind: str, content: Mapping[str, Any]) -> None:
        await self.request("PUT", f"{CS}/user/{q(user)}/account_data/{q(kind)}", content)

    # -- rooms -------------------------------------------------------------------------------

    async def resolve_alias(self, alias: RoomAlias | str) -> RoomID | None:
        try:
            data = await self.request("GET", f"{CS}/directory/room/{q(alias)}")
        except NotFound:
            return None
        return RoomID(str(data["room_id"]))

    async def add_alias(self, alias: RoomAlias | str, room: RoomID) -> None:
        """Point ``alias`` at ``room``; an alias already there for that room is fine."""
        try:
            await self.request("PUT", f"{CS}/directory/room/{q(alias)}", {"room_id": room})
        except MatrixError as e:
            if e.status != 409 or await self.resolve_alias(alias) != room:
                raise

    async def remove_alias(self, alias: RoomAlias | str) -> None:
        """Take ``alias`` off whatever room it points at (none: nothing to do)."""
        try:
            await self.request("DELETE", f"{CS}/directory/room/{q(alias)}")
        except NotFound:
            return

    async def create_room(self, body: Mapping[str, Any], as_user: UserID | None = None) -> RoomID:
        data = await self.request("POST", f"{CS}/createRoom", body, as_user=as_user)
        return RoomID(str(data["room_id"]))

    async def hierarchy(self, space: RoomID) -> list[JsonDict]:
        """The space and its direct children (name, topic, ``children_state``), all pages."""
        rooms: list[JsonDict] = []
        token = ""
        while True:
            params = {"max_depth": "1", "limit": "100", **({"from": token} if token else {})}
            data = await self.request(
                "GET", f"/_matrix/client/v1/rooms/{q(space)}/hierarchy", params=params
            )
            rooms.extend(r for r in data.get("rooms", []) if isinstance(r, dict))
            token = str(data.get("next_batch") or "")
            if not token:
                return rooms

    async def joined_members(
        self, room: RoomID, as_user: UserID | None = None
    ) -> dict[UserID, JsonDict]:
        """Joined members and their profiles (display name, avatar)."""
        data = await self.request("GET", f"{CS}/rooms/{q(room)}/joined_members", as_user=as_user)
        joined = data.get("joined", {})
        return {
            UserID(u): p if isinstance(p, dict) else {}
            for u, p in (joined.items() if isinstance(joined, dict) else [])
        }

    async def room_state(self, room: RoomID, as_user: UserID | None = None) -> list[JsonDict]:
        """Every current state event of the room (members, power levels, name…), one request."""
        data = await self.request("GET", f"{CS}/rooms/{q(room)}/state", as_user=as_user)
        chunk = data.get("chunk", [])
        return [e for e in chunk if isinstance(e, dict)] if isinstance(chunk, list) else []

    async def state_event(
        self, room: RoomID, event_type: str, state_key: str = "", as_user: UserID | None = None
    ) -> JsonDict:
        path = f"{CS}/rooms/{q(room)}/state/{q(event_type)}/{q(state_key)}"
        return await self.request("GET", path, as_user=as_user)

    async def state_event_or_empty(
        self, room: RoomID, event_type: str, state_key: str = "", as_user: UserID | None = None
    ) -> JsonDict:
        try:
            return await self.state_event(room, event_type, state_key, as_user)
        except NotFound:
            return {}

    async def create_event(self, room: RoomID, as_user: UserID | None = None) -> JsonDict:
        """The whole ``m.room.create`` event (its sender is a creator in room version 12)."""
        path = f"{CS}/rooms/{q(room)}/state/m.room.create/"
        return await self.request("GET", path, as_user=as_user, params={"format": "event"})

    async def power_levels(self, room: RoomID, as_user: UserID | None = None) -> PowerLevels:
        levels = await self.state_event_or_empty(room, "m.room.power_levels", "", as_user)
        create = await self.create_event(room, as_user)
        return PowerLevels.of(levels, create)

    async def send_state(
        self,
        room: RoomID,
        event_type: str,
        content: Mapping[str, Any],
        state_key: str = "",
        as_user: UserID | None = None,
    ) -> str:
        path = f"{CS}/rooms/{q(room)}/state/{q(event_type)}/{q(state_key)}"
        return str((await self.request("PUT", path, content, as_user=as_user)).get("event_id"))

    async def send_event(
        self,
        room: RoomID,
        event_type: str,
        content: Mapping[str, Any],
        txn_id: str,
        as_user: UserID | None = None,
    ) -> str:
        """One event; the same ``txn_id`` from the same device is sent once (safe to retry)."""
        path = f"{CS}/rooms/{q(room)}/send/{q(event_type)}/{q(txn_id)}"
        return str((await self.request("PUT", path, content, as_user=as_user))["event_id"])

    async def send_message(
        self,
        room: RoomID,
        content: Mapping[str, Any],
        txn_id: str,
        as_user: UserID | None = None,
    ) -> str:
        return await self.send_event(room, "m.room.message", content, txn_id, as_user)

    async def messages(
        self, room: RoomID, limit: int = 50, as_user: UserID | None = None
    ) -> list[JsonDict]:
        """The room's latest events, newest first."""
        params = {"dir": "b", "limit": str(limit)}
        data = await self.request(
            "GET", f"{CS}/rooms/{q(room)}/messages", as_user=as_user, params=params
        )
        return [e for e in data.get("chunk", []) if isinstance(e, dict)]

    async def event(self, room: RoomID, event_id: str, as_user: UserID | None = None) -> JsonDict:
        """One event, as ``as_user`` may see it."""
        return await self.request(
            "GET", f"{CS}/rooms/{q(room)}/event/{q(event_id)}", as_user=as_user
        )

    async def redact(
        self, room: RoomID, event_id: str, reason: str, txn_id: str, as_user: UserID | None = None
    ) -> str:
        """Remove an event's content for everybody (the same ``txn_id`` redacts once)."""
        path = f"{CS}/rooms/{q(room)}/redact/{q(event_id)}/{q(txn_id)}"
        data = await self.request("PUT", path, {"reason": reason}, as_user=as_user)
        return str(data.get("event_id", ""))

    async def join(self, room: RoomID | RoomAlias | str, user: UserID | None = None) -> RoomID:
        """Join by id or alias (the homeserver resolves it, over federation when remote)."""
        data = await self.request("POST", f"{CS}/join/{q(room)}", {}, as_user=user)
        return RoomID(str(data.get("room_id", room)))

    async def leave(self, room: RoomID, user: UserID | None = None) -> None:
        await self.request("POST", f"{CS}/rooms/{q(room)}/leave", {}, as_user=user)

    async def invite(self, room: RoomID, user: UserID, as_user: UserID | None = None) -> None:
        await self.request(
            "POST", f"{CS}/rooms/{q(room)}/invite", {"user_id": user}, as_user=as_user
        )

    async def kick(self, room: RoomID, user: UserID, reason: str) -> None:
        body = {"user_id": user, "reason": reason}
        await self.request("POST", f"{CS}/rooms/{q(room)}/kick", body)

    # -- media -------------------------------------------------------------------------------

    async def download(self, mxc: str) -> bytes:
        """A file's bytes, through the authenticated media API (Matrix 1.11)."""
        server, _, media = mxc.removeprefix("mxc://").partition("/")
        path = f"/_matrix/client/v1/media/download/{q(server)}/{q(media)}"
        self.requests += 1
        try:
            response = await self._http.get(path)
        except httpx.TransportError as e:
            raise HomeserverUnreachable(f"GET {path}: {type(e).__name__}") from e
        if response.status_code >= 400:
            try:
                data = response.json()
            except ValueError:
                data = {}
            raise matrix_error(response.status_code, data, path)
        return response.content

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        """The ``mxc://`` URI of the uploaded file."""
        found = await self.request(
            "POST",
            f"{MEDIA}/upload",
            params={"filename": filename},
            content=data,
            headers={"Content-Type": content_type},
        )
        return str(found["content_uri"])
