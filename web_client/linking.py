"""«Привязать учебный профиль»: prove a Matrix account is the person's, then link it.

    existing account ──password login on its own homeserver──▶ whoami (proof)
                      ──POST appservice /_parta/v1/link {person_id, user_id}──▶ invited
                      ──join the invited rooms with that login──▶ logout (token dropped)
    no account      ──POST appservice /_parta/v1/link {person_id}──▶ a school account, joined

The password typed for the proof goes to the account's own homeserver only; it
and the short-lived token are never stored or logged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kernel.contracts.appservice import (
    LastSync,
    Linked,
    LinkRequest,
    ReadersAnswer,
    last_sync,
    link,
    readers,
)
from kernel.contracts.base import ApiError
from kernel.ids import RoomID, UserID
from kernel.matrix import HomeserverUnreachable, MatrixClient, MatrixFailure
from web_client.errors import LinkError

logger = logging.getLogger(__name__)
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class Proof:
    """A fresh login to the person's own account: used once, then logged out."""

    user_id: str
    base_url: str
    access_token: str


class Linker:
    def __init__(
        self,
        appservice_url: str,
        link_token: str,
        server_name: str,
        homeservers: Mapping[str, str],
    ) -> None:
        self._appservice_url, self._token = appservice_url, link_token
        self._server_name = server_name
        self._homeservers = dict(homeservers)

    async def link(self, person_id: str, user_id: str | None = None) -> Linked:
        asked = LinkRequest(person_id=person_id, user_id=user_id)
        try:
            return await link(self._appservice_url, self._token, asked)
        except ApiError as e:
            if e.status == 403:
                raise LinkError(_refusal(e.reason)) from e
            if e.status == 0:
                raise LinkError(
                    "Сервер чатов школы не отвечает. Попробуйте позже.", transient=True
                ) from e
            logger.warning("link of %s answered %s: %s", person_id, e.status, e.reason)
            raise LinkError(
                "Не удалось привязать профиль. Попробуйте позже.", transient=True
            ) from e

    async def last_sync(self) -> LastSync | None:
        """The last whole-school sync (None: none yet, or the appservice does not answer)."""
        try:
            return await last_sync(self._appservice_url, self._token)
        except ApiError as e:
            logger.warning("last sync answered %s: %s", e.status, e.reason)
            return None

    async def readers(self, room_id: str, event_id: str) -> ReadersAnswer | None:
        """Who has read a message (None: the appservice does not know it, or is down)."""
        try:
            return await readers(self._appservice_url, self._token, room_id, event_id)
        except ApiError as e:
            if e.status not in (0, 404):
                logger.warning("readers of %s answered %s: %s", event_id, e.status, e.reason)
            return None

    async def prove(self, user_id: str, password: str) -> Proof:
        """Sign in to ``user_id``'s own homeserver with its password."""
        server = user_id.partition(":")[2]
        if not user_id.startswith("@") or not server:
            raise LinkError("Укажите Matrix ID целиком, например @ivanova:school14.example.org")
        base = await self._client_url(server)
        try:
            async with MatrixClient(base, None, attempts=1, timeout=30) as anonymous:
                token = await anonymous.password_login(
                    UserID(user_id), password, "Электронный дневник (привязка профиля)"
                )
        except HomeserverUnreachable as e:
            raise LinkError(f"Сервер {server} не отвечает", transient=True) from e
        except MatrixFailure as e:
            raise LinkError("Неверный Matrix ID или пароль") from e
        return Proof(user_id, base, token)

    async def accept(self, proof: Proof, rooms: Sequence[str]) -> None:
        """Join the rooms the school invited the account to, then end that login."""
        async with MatrixClient(proof.base_url, proof.access_token, attempts=2) as own:
            try:
                for room in rooms:
                    try:
                        await own.join(RoomID(room))
                    except MatrixFailure as e:
                        logger.warning("joining %s failed: %s", room, e)
            finally:
                with contextlib.suppress(MatrixFailure):
                    await own.logout()

    async def _client_url(self, server: str) -> str:
        if server in self._homeservers:
            return self._homeservers[server].rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
                found = await http.get(f"https://{server}/.well-known/matrix/client")
            url = str(_json(found).get("m.homeserver", {}).get("base_url", ""))
        except (httpx.HTTPError, AttributeError):
            url = ""
        return (url or f"https://{server}").rstrip("/")


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refusal(reason: str) -> str:
    if "student" in reason:
        return "Учётная запись ученика может быть только на сервере своей школы"
    return f"Привязка отклонена: {reason}"
