"""Authorization codes and access tokens of the diary's OpenID provider (digests only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kernel.ids import SourcedId
from kernel.secrets import token_digest

_meta = sa.MetaData()
codes = sa.Table(
    "oidc_codes",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("nonce", sa.Text),
    sa.Column("auth_time", sa.Integer, nullable=False),
    sa.Column("code_challenge", sa.Text),
    sa.Column("code_challenge_method", sa.String(16)),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)
tokens = sa.Table(
    "oidc_tokens",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(255), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class StoredCode:
    digest: str
    client_id: str
    person_id: SourcedId
    redirect_uri: str
    scope: str
    nonce: str | None
    auth_time: int
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


OIDC_TABLES = (codes, tokens)
"""Made by the diary store's migrations (same database)."""


class OidcStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_code(self, stored: StoredCode) -> None:
        with self._engine.begin() as db:
            db.execute(sa.insert(codes).values(**stored.__dict__))

    def code(self, code: str, client_id: str, now: datetime) -> StoredCode | None:
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(codes).where(
                    codes.c.digest == token_digest(code),
                    codes.c.client_id == client_id,
                    codes.c.expires_at > now,
                )
            ).first()
        if row is None:
            return None
        return StoredCode(**dict(row._mapping))

    def drop_code(self, stored: StoredCode) -> None:
        with self._engine.begin() as db:
            db.execute(sa.delete(codes).where(codes.c.digest == stored.digest))

    def add_token(self, token: str, person: SourcedId, scope: str, expires_at: datetime) -> None:
        with self._engine.begin() as db:
            db.execute(
                sa.insert(tokens).values(
                    digest=token_digest(token), person_id=person, scope=scope, expires_at=expires_at
                )
            )

    def token_person(self, token: str, now: datetime) -> SourcedId | None:
        with self._engine.connect() as db:
            person = db.scalar(
                sa.select(tokens.c.person_id).where(
                    tokens.c.digest == token_digest(token), tokens.c.expires_at > now
                )
            )
        return None if person is None else SourcedId(person)
