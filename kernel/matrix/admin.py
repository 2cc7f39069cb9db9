"""Synapse's admin API, for what no appservice token may do: deactivate, erase, export.

::

    registration shared secret ──HMAC──▶ /_synapse/admin/v1/register (admin) ──▶ token file
    token file ──▶ SynapseAdmin ──▶ deactivate · reactivate · erase · media · user

The account (``@parta-admin:<server>``) is made once with the homeserver's registration
shared secret; its token is kept in a file (mode 0600) next to that secret, its password in
another (a lost token is replaced by a login). Neither is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from kernel.ids import UserID
from kernel.matrix.client import JsonDict, MatrixClient, q
from kernel.matrix.errors import MatrixError, MatrixFailure
from kernel.secrets import ensure_secret_file, read_secret_file, write_secret_file

log = logging.getLogger(__name__)

ADMIN = "/_synapse/admin"
ADMIN_LOCALPART = "parta-admin"


class AdminAccessError(MatrixFailure):
    """No admin token could be had (the shared secret is missing or refused)."""


@dataclass(frozen=True)
class AdminFiles:
    shared_secret: Path
    """The homeserver's ``registration_shared_secret_path``."""
    token: Path
    password: Path


async def admin_token(base_url: str, files: AdminFiles) -> str:
    """A working admin token: the kept one, else a login, else a new admin account."""
    if files.token.exists():
        token = read_secret_file(files.token)
        if await _works(base_url, token):
            return token
    password = ensure_secret_file(files.password)
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=60) as http:
        token = await _login(http, password) or await _register(http, files, password)
    write_secret_file(files.token, token)
    log.info("an admin token for %s was made", ADMIN_LOCALPART)
    return token


async def _works(base_url: str, token: str) -> bool:
    async with MatrixClient(base_url, token, attempts=2) as client:
        try:
            await client.request("GET", "/_matrix/client/v3/account/whoami")
        except MatrixError:
            return False
    return True


async def _login(http: httpx.AsyncClient, password: str) -> str | None:
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": ADMIN_LOCALPART},
        "password": password,
        "initial_device_display_name": "parta (operator)",
    }
    answer = await http.post("/_matrix/client/v3/login", json=body)
    return str(answer.json()["access_token"]) if answer.status_code == 200 else None


async def _register(http: httpx.AsyncClient, files: AdminFiles, password: str) -> str:
    if not files.shared_secret.exists():
        raise AdminAccessError(f"no registration shared secret at {files.shared_secret}")
    secret = read_secret_file(files.shared_secret).encode()
    url = f"{ADMIN}/v1/register"
    nonce = str((await http.get(url)).json()["nonce"])
    parts = [nonce, ADMIN_LOCALPART, password, "admin"]
    mac = hmac.new(secret, "\x00".join(parts).encode(), hashlib.sha1).hexdigest()
    body = {
        "nonce": nonce,
        "username": ADMIN_LOCALPART,
        "password": password,
        "admin": True,
        "mac": mac,
    }
    answer = await http.post(url, json=body)
    if answer.status_code != 200:
        raise AdminAccessError(
            f"the homeserver refused the admin account: {answer.status_code} {answer.text[:200]}"
        )
    return str(answer.json()["access_token"])


class SynapseAdmin:
    """The calls parta makes as the homeserver's administrator (one client, one token)."""

    def __init__(self, client: MatrixClient) -> None:
        self.client = client

    async def deactivate(self, user: UserID, erase: bool = False) -> None:
        """Logged out everywhere, out of every room, no login again; ``erase``: the profile
        goes and the messages are hidden from whoever was not in the room when they were
        sent (Synapse's GDPR erasure)."""
        await self.client.request("POST", f"{ADMIN}/v1/deactivate/{q(user)}", {"erase": erase})

    async def reactivate(self, user: UserID) -> None:
        await self.client.request("PUT", f"{ADMIN}/v2/users/{q(user)}", {"deactivated": False})

    async def user(self, user: UserID) -> JsonDict:
        return await self.client.request("GET", f"{ADMIN}/v2/users/{q(user)}")

    async def media(self, user: UserID) -> list[JsonDict]:
        """Every file the user uploaded (newest first, at most 1,000 a page)."""
        found: list[JsonDict] = []
        start = 0
        while True:
            page = await self.client.request(
                "GET",
                f"{ADMIN}/v1/users/{q(user)}/media",
                params={"from": str(start), "limit": "1000"},
            )
            found.extend(m for m in page.get("media", []) if isinstance(m, dict))
            following = page.get("next_token")
            if following is None:
                return found
            start = int(following)

    async def delete_media(self, user: UserID) -> int:
        """The user's uploads deleted from the media store; how many."""
        answer = await self.client.request("DELETE", f"{ADMIN}/v1/users/{q(user)}/media")
        return int(answer.get("total", 0))
