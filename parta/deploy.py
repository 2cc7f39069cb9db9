"""``parta deploy prepare``: what a deployment needs on disk and in PostgreSQL, idempotently.

The Ansible roles call it on the host (one source of truth: the homeserver's files come
from the same templates and code ``parta run`` uses)::

    secrets    ── every shared token, the diary's keys, the TURN secret: made once, kept
    databases  ── PostgreSQL databases (C collation) and the stores' schemas
    homeserver ── homeserver.yaml, log.yaml, the appservice registration, Synapse's keys

It prints ``{"changed": [...]}``: the files whose bytes changed and the databases made,
so a second run with the same configuration reports nothing (Ansible's ``changed_when``).
Files it writes are made readable by ``--group`` (the components' shared group), never
by others.
"""

from __future__ import annotations

import grp
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from homeserver.postgres import ensure_database
from homeserver.render import render_homeserver
from kernel.config import SchoolConfig
from kernel.secrets import ensure_secret_file
from parta.stack import homeserver_settings
from parta.stores import upgrade_all
from web_client.oidc import ensure_signing_key_file

PARTS = ("secrets", "databases", "homeserver")
_SKIPPED = ("media_store", "homeserver.db", "homeserver.log", "console.log")
"""What Synapse itself writes under its folder: neither compared nor re-permissioned."""


def prepare(config: SchoolConfig, parts: Iterable[str], group: str | None) -> list[str]:
    """Do ``parts`` and name what changed."""
    changed: list[str] = []
    state = config.state_dir.resolve()
    before = _digests(state)
    wanted = set(parts)
    if "secrets" in wanted:
        _secrets(config)
    if "databases" in wanted and config.database.kind == "postgres":
        changed += _databases(config)
    if "homeserver" in wanted:
        render_homeserver(homeserver_settings(config, with_diary=True))
    after = _digests(state)
    changed += sorted(str(p) for p in after if after[p] != before.get(p))
    if group is not None:
        _share(state, grp.getgrnam(group).gr_gid)
    return changed


def _secrets(config: SchoolConfig) -> None:
    for path in (
        config.as_token_file,
        config.hs_token_file,
        config.link_token_file,
        config.invite_token_file,
        config.bots_token_file,
        config.bridge_token_file,
        config.password_check_token_file,
        config.diary_api_token_file,
        config.oidc_client_secret_file,
    ):
        ensure_secret_file(path)
    ensure_secret_file(config.secrets_dir / "diary_session_key", 48)
    if config.call_bridge.turn_secret_file is not None:
        ensure_secret_file(config.call_bridge.turn_secret_file)
    ensure_signing_key_file(config.oidc_signing_key_file)


def _databases(config: SchoolConfig) -> list[str]:
    made = []
    for name in config.db_names:
        if not _exists(config.database.dsn, name):
            ensure_database(config.database.dsn, name)
            made.append(f"database {name}")
    made += [
        f"store {step.store} {step.before} → {step.after}"
        for step in upgrade_all(config)
        if step.before != step.after
    ]
    return made


def _exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as connection:
        query = sql.SQL("SELECT 1 FROM pg_database WHERE datname = %s")
        return connection.execute(query, (name,)).fetchone() is not None


_WRITTEN = ("secrets", "homeserver")
"""The folders ``prepare`` writes into; the running components write elsewhere under the state
folder (the bots' books, logs…), and a change of theirs is not a change made here."""


def _digests(root: Path) -> dict[Path, str]:
    """What ``prepare`` may have written under ``root`` (not Synapse's files): path → SHA-256."""
    out: dict[Path, str] = {}
    for top in (root / name for name in _WRITTEN):
        if not top.is_dir():
            continue
        for path in top.rglob("*"):
            if path.is_file() and not _skipped(path.relative_to(root)):
                out[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _share(state: Path, gid: int) -> None:
    """Group-readable secrets and homeserver files; nothing for others."""
    for top in (state / "secrets", state / "homeserver"):
        if not top.is_dir():
            continue
        for path in (top, *top.rglob("*")):
            if _skipped(path.relative_to(state)):
                continue
            if path.stat().st_gid != gid:
                os.chown(path, -1, gid)
            mode = 0o750 if path.is_dir() else 0o640
            if path.stat().st_mode & 0o777 != mode:
                path.chmod(mode)


def _skipped(relative: Path) -> bool:
    return any(part.startswith(_SKIPPED) for part in relative.parts)
