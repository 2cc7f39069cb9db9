"""Tokens already used, shared by every worker of the pool (one store).

A token opens one door once: the first worker to record its digest wins, a second
use — on this worker or another, for this call or another — is refused. Only a
SHA-256 digest is stored, and only until the token would have expired anyway.
"""

from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa

from kernel.db import Migration, create_missing, insert_new, open_store

_meta = sa.MetaData()
used = sa.Table(
    "used",
    _meta,
    sa.Column("digest", sa.LargeBinary, primary_key=True),
    sa.Column("until", sa.Float, nullable=False),
)
STORE = "bridge.used_tokens"
MIGRATIONS = (Migration(1, "used tokens of parta 0.1", lambda op: create_missing(op, used)),)


class UsedTokens:
    def __init__(self, url: str, lifetime_s: float) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)
        self._lifetime = lifetime_s

    def first_use(self, server: str, token: str) -> bool:
        """Record the token; False when it was recorded before."""
        digest = hashlib.sha256(f"{server}\0{token}".encode()).digest()
        now = time.time()
        with self._engine.begin() as db:
            db.execute(used.delete().where(used.c.until < now))
            return insert_new(db, used, {"digest": digest, "until": now + self._lifetime})

    def close(self) -> None:
        self._engine.dispose()
