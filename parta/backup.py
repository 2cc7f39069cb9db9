"""``parta backup`` and ``parta restore``: a whole school in one encrypted file (F1, F5).

::

    parta backup -c parta.yaml --out /var/backups/parta
        every database, consistent each: SQLite's online backup, or pg_dump (custom format)
        then every file of the state folder: the media store, the secrets and signing keys,
        the bots' and the bridge's books (logs and SQLite files left out: copied above)
        ─▶ one tar, encrypted with age to the operator's public key(s) (``backup.recipients``)
        ─▶ <out>/<school>-<UTC time>.tar.age, then only the newest ``backup.keep`` are kept

    parta restore FILE.tar.age -c parta.yaml --identity backup.key
        only onto an empty state folder (and, on PostgreSQL, databases with no tables), for the
        same server name and the same kind of database; ports, folders and database names may
        differ: every listener's configuration is rendered again when the school starts

The host that makes the backups holds only the public key: whoever takes the host (or the
backups) cannot read them; the operator keeps the secret key elsewhere (``parta backup-key``).
Databases are copied before the files, so every file a database names is in the backup.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

import psycopg
import pyrage
import sqlalchemy as sa
from pyrage import x25519

from homeserver.postgres import ensure_database
from kernel.config import SchoolConfig
from kernel.secrets import write_secret_file
from parta.stores import stores_of

FORMAT = 1
SUFFIX = ".tar.age"
_SKIPPED = (".db", ".db-wal", ".db-shm", ".db-journal", ".log", ".part")


class BackupError(Exception):
    """Said to the operator as it is; nothing was changed."""


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    files: int
    databases: tuple[str, ...]
    removed: tuple[Path, ...]


@dataclass(frozen=True)
class Restored:
    files: int
    databases: tuple[str, ...]


def new_key(out: Path) -> str:
    """A new age identity in ``out`` (0600, never overwritten); returns its public key."""
    if out.exists():
        raise BackupError(f"{out}: already exists; a key is never overwritten")
    identity = x25519.Identity.generate()
    write_secret_file(out, str(identity))
    return str(identity.to_public())


def _recipients(keys: tuple[str, ...]) -> list[x25519.Recipient]:
    if not keys:
        raise BackupError(
            "no public key to encrypt to: set backup.recipients (make one with "
            "`parta backup-key --out backup.key`; keep that file off this host)"
        )
    try:
        return [x25519.Recipient.from_str(k) for k in keys]
    except pyrage.RecipientError as e:
        raise BackupError(f"backup.recipients: not an age public key ({e})") from e


def _sqlite_files(config: SchoolConfig) -> list[Path]:
    """Every SQLite database of the school: the stores', Synapse's and any other ``*.db``."""
    state = config.state_dir.resolve()
    found = [state / "homeserver" / "homeserver.db"]
    for spec in stores_of(config):
        if spec.url.startswith("sqlite"):
            found.append(Path(sa.make_url(spec.url).database or ""))
    found += sorted(state.rglob("*.db"))
    return [p for p in dict.fromkeys(found) if p.is_relative_to(state) and p.is_file()]


def _postgres_databases(config: SchoolConfig) -> dict[str, str]:
    """role → database name: the names may differ between the backup and the restore."""
    prefix = config.database.name_prefix
    return {
        "synapse": config.synapse_db_name,
        "appservice": config.store_db_name,
        "diary": config.diary_db_name,
        "bots": f"{prefix}_bots",
        "bridge": f"{prefix}_bridge",
    }


def _libpq(config: SchoolConfig, name: str) -> str:
    """A libpq URI for database ``name`` on the configured server."""
    base = config.database.dsn.rsplit("/", 1)[0]
    return f"{base}/{name}"


def backup(
    config: SchoolConfig, config_file: Path, out: Path, recipients: tuple[str, ...] = ()
) -> Made:
    keys = _recipients(recipients or config.backup.recipients)
    state = config.state_dir.resolve()
    if not (state / "secrets").is_dir():
        raise BackupError(f"{state}: no school here (has it been started with `parta run`?)")
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{_slug(config.server_name)}-{stamp}{SUFFIX}"
    with tempfile.TemporaryDirectory(dir=out, prefix=".parta-backup-") as work:
        tmp = Path(work)
        manifest: dict[str, object] = {
            "format": FORMAT,
            "server_name": config.server_name,
            "database": config.database.kind,
            "created": stamp,
            "parta": package_version("parta"),
        }
        databases, copies = _copy_databases(config, tmp)
        manifest["databases"] = list(databases)
        tar_path = tmp / "school.tar"
        files = 0
        with tarfile.open(tar_path, "w") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
            tar.add(config_file, arcname="parta.yaml")
            for arcname, path in copies:
                tar.add(path, arcname=arcname)
            for path in _state_files(state):
                tar.add(path, arcname=f"state/{path.relative_to(state)}", recursive=False)
                files += 1
        partial = out / f".{name}.part"
        try:
            pyrage.encrypt_file(str(tar_path), str(partial), keys)
        except pyrage.EncryptError as e:
            partial.unlink(missing_ok=True)
            raise BackupError(f"cannot encrypt the backup: {e}") from e
        os.chmod(partial, 0o600)
        final = out / name
        partial.replace(final)
    removed = _keep_newest(out, config.server_name, config.backup.keep)
    return Made(final, final.stat().st_size, files, databases, removed)


def _copy_databases(
    config: SchoolConfig, tmp: Path
) -> tuple[tuple[str, ...], list[tuple[str, Path]]]:
    """Each database copied consistently (while the school runs); (names, (arcname, copy))."""
    state = config.state_dir.resolve()
    copies: list[tuple[str, Path]] = []
    names: list[str] = []
    for source in _sqlite_files(config):
        rel = source.relative_to(state)
        copy = tmp / "sqlite" / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, copy)
        copies.append((f"state/{rel}", copy))
        names.append(str(rel))
    if config.database.kind == "sqlite":
        return tuple(names), copies
    (tmp / "postgres").mkdir()
    for role, name in _postgres_databases(config).items():
        dump = tmp / "postgres" / f"{role}.dump"
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _libpq(config, name)])
        copies.append((f"postgres/{role}.dump", dump))
        names.append(role)
    return tuple(names), copies


def _sqlite_copy(source: Path, copy: Path) -> None:
    """SQLite's online backup: a consistent copy while others write."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _state_files(state: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(state):
        dirs.sort()
        for file in sorted(files):
            path = Path(root) / file
            if path.is_symlink() or path.name.endswith(_SKIPPED) or path.name == "console.log":
                continue
            yield path


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def _keep_newest(out: Path, server_name: str, keep: int) -> tuple[Path, ...]:
    mine = sorted(out.glob(f"{_slug(server_name)}-*{SUFFIX}"))
    old = mine[: max(0, len(mine) - keep)]
    for path in old:
        path.unlink()
    return tuple(old)


def _slug(server_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in server_name)


def restore(config: SchoolConfig, archive: Path, identity_file: Path) -> Restored:
    state = config.state_dir.resolve()
    if state.exists() and any(state.iterdir()):
        raise BackupError(f"{state}: not empty; a school is restored onto an empty state folder")
    try:
        identity = x25519.Identity.from_str(identity_file.read_text(encoding="utf-8").strip())
    except (OSError, pyrage.IdentityError) as e:
        raise BackupError(f"{identity_file}: not an age secret key ({e})") from e
    state.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=state.parent, prefix=".parta-restore-") as work:
        tmp = Path(work)
        tar_path = tmp / "school.tar"
        try:
            pyrage.decrypt_file(str(archive), str(tar_path), [identity])
        except (pyrage.DecryptError, OSError) as e:
            raise BackupError(f"{archive}: cannot decrypt with {identity_file} ({e})") from e
        with tarfile.open(tar_path, "r") as tar:
            manifest = _manifest(tar, config)
            targets = _empty_targets(config, manifest)
            tar.extractall(tmp / "x", filter="data")
        extracted = tmp / "x"
        state.mkdir(parents=True, exist_ok=True)
        files = 0
        for path in sorted((extracted / "state").rglob("*")):
            if path.is_file():
                dest = state / path.relative_to(extracted / "state")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, dest)
                files += 1
        for role, name in targets.items():
            ensure_database(config.database.dsn, name)
            dump = extracted / "postgres" / f"{role}.dump"
            _run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--exit-on-error",
                    "-d",
                    _libpq(config, name),
                    str(dump),
                ]
            )
    listed = manifest["databases"]
    return Restored(files, tuple(str(d) for d in listed) if isinstance(listed, list) else ())


def _manifest(tar: tarfile.TarFile, config: SchoolConfig) -> dict[str, object]:
    member = tar.extractfile("manifest.json")
    if member is None:
        raise BackupError("not a parta backup: no manifest.json")
    manifest = json.loads(member.read())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}; this release reads {FORMAT}")
    if manifest["server_name"] != config.server_name:
        raise BackupError(
            f"the backup is of {manifest['server_name']}, this configuration is "
            f"{config.server_name}: a Matrix server keeps its name"
        )
    if manifest["database"] != config.database.kind:
        raise BackupError(
            f"the backup's databases are {manifest['database']}, this configuration's are "
            f"{config.database.kind}"
        )
    return dict(manifest)


def _empty_targets(config: SchoolConfig, manifest: dict[str, object]) -> dict[str, str]:
    """role → database to restore into, each checked empty before anything is written."""
    if config.database.kind != "postgres":
        return {}
    listed = manifest["databases"]
    roles = {str(r) for r in listed} if isinstance(listed, list) else set()
    targets = {r: n for r, n in _postgres_databases(config).items() if r in roles}
    for name in targets.values():
        try:
            with psycopg.connect(_libpq(config, name), connect_timeout=5) as c:
                tables = c.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                ).fetchone()
        except psycopg.OperationalError:
            continue  # it does not exist yet: it will be made
        if tables and tables[0]:
            raise BackupError(f"database {name} is not empty; restore into empty databases")
    return targets


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    except FileNotFoundError as e:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)") from e
    except subprocess.CalledProcessError as e:
        raise BackupError(f"{command[0]} failed: {e.stderr.strip()[-500:]}") from e
