"""Who is calling: a Matrix OpenID token, checked with the caller's own homeserver.

The call page asks the person's homeserver for a token
(``POST /_matrix/client/v3/user/{userId}/openid/request_token``) and hands it to the
bridge; the bridge asks *that* server, over its federation API, whose token it is:

    {access_token, matrix_server_name} ──GET https://<server>/_matrix/federation/v1/
                                           openid/userinfo?access_token=…──▶ {"sub": userId}

So a teacher of another school is vouched for by their own school's server, and a
token is worth nothing to anyone but the server that minted it. The answer's user
must belong to ``matrix_server_name``; a server outside the region is refused
before any request is made.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from kernel.ids import UserID


class IdentityRefused(Exception):
    """The token does not prove who the caller is; ``reason`` is shown to them."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OpenIdToken:
    access_token: str
    matrix_server_name: str

    @classmethod
    def from_json(cls, body: object) -> OpenIdToken:
        if not isinstance(body, Mapping):
            raise IdentityRefused("нужен токен OpenID от вашего сервера Matrix")
        token, server = body.get("access_token"), body.get("matrix_server_name")
        if not isinstance(token, str) or not isinstance(server, str) or not token or not server:
            raise IdentityRefused("нужен токен OpenID от вашего сервера Matrix")
        return cls(token, server)


@dataclass(frozen=True)
class FederationEndpoint:
    """Where a region's server answers federation requests, and how to trust its TLS."""

    url: str
    verify: ssl.SSLContext | bool = True
    ca_file: Path | None = None
    """Read at each check (the other school may make its certificate after we start)."""

    def tls(self) -> ssl.SSLContext | bool:
        if self.ca_file is None:
            return self.verify
        try:
            return ssl.create_default_context(cafile=str(self.ca_file))
        except OSError as e:
            raise IdentityRefused("сервер другой школы ещё не готов") from e


class OpenIdVerifier:
    """Checks tokens with the servers of the region (by server name)."""

    def __init__(self, endpoints: Mapping[str, FederationEndpoint]) -> None:
        self._endpoints = dict(endpoints)

    async def user_of(self, token: OpenIdToken) -> UserID:
        server = token.matrix_server_name
        endpoint = self._endpoints.get(server)
        if endpoint is None:
            raise IdentityRefused(f"сервер {server} не входит в сеть школ региона")
        try:
            async with httpx.AsyncClient(verify=endpoint.tls(), timeout=15) as http:
                answer = await http.get(
                    f"{endpoint.url.rstrip('/')}/_matrix/federation/v1/openid/userinfo",
                    params={"access_token": token.access_token},
                )
        except httpx.HTTPError as e:
            raise IdentityRefused(f"сервер {server} не отвечает") from e
        if answer.status_code != 200:
            raise IdentityRefused("токен недействителен или истёк")
        sub = (
            answer.json().get("sub")
            if answer.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if not isinstance(sub, str) or sub.partition(":")[2] != token.matrix_server_name:
            raise IdentityRefused("сервер ответил за чужого пользователя")
        return UserID(sub)
