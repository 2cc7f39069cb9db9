"""``parta people erase`` and ``parta people export``: people who left, and subject access.

::

    erase   store.departures ─due─▶ Synapse admin: deactivate(erase) + delete uploads ─▶ record
    export  Synapse's own admin_cmd export-data (rooms, events, profile, devices, media ids)
            + the uploaded files through the media API ─▶ one zip
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from appservice.erasure import Erased, due, erase
from appservice.school_sync import PUPPET_PREFIX
from appservice.store import Departure, Store
from kernel.config import ConfigError, SchoolConfig, load_config
from kernel.db import StoreError
from kernel.ids import ServerName, SourcedId, UserID, escape_localpart, user_id
from kernel.matrix import MatrixFailure
from kernel.matrix.admin import SynapseAdmin
from kernel.secrets import SecretError
from parta.stack import SchoolStack

EXPORT_TIMEOUT_S = 600


def _fail(message: str, code: int = 1) -> int:
    print(f"parta: {message}", file=sys.stderr)
    return code


def matrix_user(config: SchoolConfig, who: str) -> UserID:
    """A Matrix id as given, or the account the school made for a diary person."""
    if who.startswith("@"):
        return UserID(who)
    local = PUPPET_PREFIX + escape_localpart(SourcedId(who))
    return user_id(local, ServerName(config.server_name))


def people_erase(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    stack = SchoolStack(config, args.config)
    if not config.as_token_file.exists():
        return _fail("this school has not been started yet (`parta run`)", 2)
    store = stack.open_store()
    try:
        chosen = _chosen(config, store, args.person or [], args.now)
        if isinstance(chosen, str):
            return _fail(chosen)
        erased = asyncio.run(_erase(stack, store, chosen)) if chosen else []
    except (MatrixFailure, SecretError, StoreError, OSError) as e:
        return _fail(f"parta people erase: {e}")
    finally:
        store.close()
    _print_erased(erased, args.json)
    return 0


def _chosen(
    config: SchoolConfig, store: Store, people: list[str], now: bool
) -> list[Departure] | str:
    departures = store.departures()
    clock = int(time.time() * 1000)
    if not people:
        return due(departures.values(), clock, config.retention.erase_after_days)
    chosen = []
    for who in people:
        user = matrix_user(config, who)
        found = departures.get(user)
        if found is None or found.deactivated_ms is None:
            return (
                f"{who}: not a person who left the school (only an account the sync has "
                "switched off can be erased)"
            )
        if found.erased_ms is not None:
            continue
        chosen.append(found)
    period = 0 if now else config.retention.erase_after_days
    ready = due(chosen, clock, period, force=now)
    if len(ready) < len(chosen):
        waiting = ", ".join(d.user_id for d in chosen if d not in ready)
        return (
            f"{waiting}: switched off less than {period} days ago "
            "(retention.erase_after_days); add --now to erase at once"
        )
    return ready


async def _erase(stack: SchoolStack, store: Store, chosen: list[Departure]) -> list[Erased]:
    admin = await stack.admin()
    try:
        return await erase(admin, store, chosen)
    finally:
        await admin.client.aclose()


def _print_erased(erased: list[Erased], as_json: bool) -> None:
    if as_json:
        rows = [{"user_id": e.user_id, "name": e.display_name, "media": e.media} for e in erased]
        print(json.dumps({"erased": rows}, ensure_ascii=False, indent=2))
        return
    if not erased:
        print("Некого удалять: срок ещё не прошёл ни у кого из выбывших.")
    for e in erased:
        print(f"Удалено (erased): {e.user_id} «{e.display_name}»: профиль, файлов: {e.media}")


def people_export(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    stack = SchoolStack(config, args.config)
    user = matrix_user(config, args.person)
    try:
        files = asyncio.run(export(stack, user, args.out))
    except ExportError as e:
        return _fail(f"parta people export: {e}")
    except (MatrixFailure, SecretError, OSError) as e:
        return _fail(f"parta people export: {e}")
    print(f"Данные {user} записаны в {args.out} (файлов: {files})")
    return 0


class ExportError(Exception):
    """Synapse's export tool refused (and what it said)."""


async def export(stack: SchoolStack, user: UserID, out: Path) -> int:
    """Everything the homeserver holds of ``user``, with their uploads, as one zip; the
    number of files in it."""
    with tempfile.TemporaryDirectory(prefix="parta-export-") as work:
        folder = Path(work) / "export"
        command = [
            sys.executable,
            "-m",
            "synapse.app.admin_cmd",
            "-c",
            str(stack.homeserver_config_path),
            "export-data",
            user,
            "--output-directory",
            str(folder),
        ]
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=EXPORT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise ExportError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
        admin = await stack.admin()
        try:
            media = await _media_files(admin, user)
        finally:
            await admin.client.aclose()
        return await asyncio.to_thread(_zip, folder, media, out)


def _zip(folder: Path, media: dict[str, bytes], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
                count += 1
        for media_id, body in sorted(media.items()):
            archive.writestr(f"media/{media_id}", body)
            count += 1
    return count


async def _media_files(admin: SynapseAdmin, user: UserID) -> dict[str, bytes]:
    """The person's uploads by media id (Synapse's export lists their ids only)."""
    server = user.split(":", 1)[1]
    files = {}
    for item in await admin.media(user):
        media_id = str(item.get("media_id", ""))
        if media_id and "/" not in media_id and not media_id.startswith("."):
            files[media_id] = await admin.client.download(f"mxc://{server}/{media_id}")
    return files
