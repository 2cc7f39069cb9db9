"""Tokens already used, shared by every worker of the pool (one SQLite file).

A token opens one door once: the first worker to record its digest wins, a second
use — on this worker or another, for this call or another — is refused. Only a
SHA-256 digest is stored, and only until the token would have expired anyway.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path


class UsedTokens:
    def __init__(self, path: Path, lifetime_s: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS used (digest BLOB PRIMARY KEY, until REAL NOT NULL)"
        )
        self._lifetime = lifetime_s

    def first_use(self, server: str, token: str) -> bool:
        """Record the token; False when it was recorded before."""
        digest = hashlib.sha256(f"{server}\0{token}".encode()).digest()
        now = time.time()
        self._db.execute("DELETE FROM used WHERE until < ?", (now,))
        try:
            self._db.execute(
                "INSERT INTO used (digest, until) VALUES (?, ?)", (digest, now + self._lifetime)
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def close(self) -> None:
        self._db.close()
