"""Secrets live in files: generated once with :mod:`secrets`, read back, never logged."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

_EXAMPLE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "example", "CHANGEME"})


class SecretError(Exception):
    """A secret file is missing, unreadable or holds an example value."""


def ensure_secret_file(path: Path, nbytes: int = 32) -> str:
    """Return the secret in ``path``, creating it (mode 0600) if it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(nbytes))
    return read_secret_file(path)


def write_secret_file(path: Path, value: str) -> None:
    """Replace ``path`` with ``value`` atomically, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    partial.replace(path)


def read_secret_file(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise SecretError(f"{path}: cannot read the secret: {e.strerror}") from e
    if value in _EXAMPLE_SECRETS or len(value) < 16:
        raise SecretError(f"{path}: the secret is empty, too short or an example value")
    return value


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison; the lengths may leak, the contents do not."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def token_digest(token: str) -> str:
    """What a store keeps of a token it must recognise: SHA-256, hex (never the token)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
