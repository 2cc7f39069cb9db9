"""The diary as an OpenID Connect provider: «Войти через электронный дневник» in any client.

Authlib does the protocol (authorization code grant with the OpenID extension,
client authentication, PKCE, ID tokens signed RS256 with joserfc); this module
adapts it to Starlette and the diary's store.

    Synapse ─302─▶ /oidc/authorize ─(signed in? else /login)─▶ link if needed
            ◀─302 code─┘
    Synapse ─POST /oidc/token (client secret)─▶ id_token {sub, name, matrix_localpart}

The only client is the school's own homeserver, so there is no consent screen:
signing in to the diary is the consent. A person must have (or gets, on the
spot) an account on this homeserver; one linked on another server signs in there.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, JsonRequest
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.responses import JSONResponse, Response

from appservice.diary_sync.model import Diary
from kernel.ids import SourcedId
from kernel.secrets import same_secret, token_digest
from web_client.oidc_store import OidcStore, StoredCode
from web_client.store import DiaryStore

CODE_LIFETIME = timedelta(minutes=5)
TOKEN_LIFETIME = 3600
SCOPES = ("openid", "profile")


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return same_secret(client_secret or "", self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class Person:
    """What authlib calls the user: a diary person with their Matrix localpart."""

    id: SourcedId
    name: str
    login: str
    matrix_localpart: str


class StarletteRequest(OAuth2Request):  # type: ignore[misc]
    """Authlib's request, built from what Starlette already parsed (query and form)."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], data: Mapping[str, str]
    ) -> None:
        super().__init__(method, uri, headers=dict(headers))
        self.payload = BasicOAuth2Payload(dict(data))
        self._data = dict(data)

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


class DiaryOidc(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        client: Client,
        issuer: str,
        key: RSAKey,
        codes: OidcStore,
        people: Callable[[SourcedId], Person | None],
        utc_now: Callable[[], datetime],
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.client, self.issuer, self.key = client, issuer, key
        self.codes, self.people, self.utc_now = codes, people, utc_now
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *args, **kwargs: secrets.token_urlsafe(32),
                None,
                lambda client, grant_type: TOKEN_LIFETIME,
            ),
        )
        self.register_grant(_CodeGrant, [_OpenID(self), CodeChallenge(required=False)])

    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        expires = self.utc_now() + timedelta(seconds=int(token.get("expires_in", TOKEN_LIFETIME)))
        person: Person = request.user
        self.codes.add_token(token["access_token"], person.id, token.get("scope", ""), expires)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: OAuth2Request) -> JsonRequest:
        return JsonRequest(request.method, request.uri, request.headers)

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers or []))
        return Response(body or b"", status_code=status, headers=dict(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def metadata(self) -> dict[str, object]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oidc/authorize",
            "token_endpoint": f"{self.issuer}/oidc/token",
            "userinfo_endpoint": f"{self.issuer}/oidc/userinfo",
            "jwks_uri": f"{self.issuer}/oidc/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", "preferred_username", "matrix_localpart"],
        }

    def jwks(self) -> dict[str, object]:
        return {"keys": [self.key.as_dict(private=False)]}

    def user_info(self, person: Person) -> UserInfo:
        return UserInfo(
            sub=person.id,
            name=person.name,
            preferred_username=person.login,
            matrix_localpart=person.matrix_localpart,
        )


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]
    server: DiaryOidc

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        person: Person = request.user
        data = request.payload.data
        self.server.codes.add_code(
            StoredCode(
                digest=token_digest(code),
                client_id=request.client.client_id,
                person_id=person.id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.payload.scope or "",
                nonce=data.get("nonce"),
                auth_time=int(time.time()),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=self.server.utc_now() + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> StoredCode | None:
        return self.server.codes.code(code, client.client_id, self.server.utc_now())

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        self.server.codes.drop_code(authorization_code)

    def authenticate_user(self, authorization_code: StoredCode) -> Person | None:
        return self.server.people(authorization_code.person_id)


class _OpenID(OpenIDCode):  # type: ignore[misc]
    def __init__(self, server: DiaryOidc) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # codes are single-use and short-lived; Synapse checks the nonce itself

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self._server.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": str(self._server.key.kid)}

    def get_client_claims(self, client: Client) -> dict[str, object]:
        now = int(time.time())
        return {"iss": self._server.issuer, "aud": [client.client_id], "exp": now + TOKEN_LIFETIME}

    def generate_user_info(self, user: Person, scope: str) -> UserInfo:
        return self._server.user_info(user)


def person_lookup(
    store: DiaryStore, diary: Callable[[], Diary | None], server: str
) -> Callable[[SourcedId], Person | None]:
    """A person who may sign in to ``server``: linked to an account that lives there."""

    def find(person_id: SourcedId) -> Person | None:
        account = store.account(person_id)
        known = diary()
        if account is None or known is None or person_id not in known.people:
            return None
        user_id = account.matrix_user_id or ""
        localpart, _, home = user_id.removeprefix("@").partition(":")
        if home != server:
            return None
        return Person(person_id, known.people[person_id].display_name, account.login, localpart)

    return find


def ensure_signing_key_file(path: Path) -> RSAKey:
    """The diary's signing key from ``path``, made there (mode 0600) the first time."""
    key, pem = load_or_make_key(path.read_bytes() if path.exists() else None)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    return key


def load_or_make_key(pem: bytes | None) -> tuple[RSAKey, bytes]:
    """The signing key from its PEM, or a new 2048-bit one (and its PEM to keep)."""
    key = RSAKey.import_key(pem) if pem else RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key, key.as_pem(private=True)
