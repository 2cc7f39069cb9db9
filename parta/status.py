"""``parta status -c parta.yaml``: is every part of this school working? (F1, F2)

Each component's ``/ready`` (its database, the homeserver, what it calls), the homeserver's
own client API, every store's schema against this release's migrations, the versions, the last
sync with the roster, and the expiry of every TLS certificate the school serves::

    homeserver   работает
    appservice   работает      database: ok
    bots         НЕ РАБОТАЕТ   appservice: не отвечает (ConnectError)
    …
    store bots.moderation    схема 1 из 1
    versions                 parta 0.1.0, Synapse 1.163.2
    last sync                05.12.2026 16:40 UTC: 53 действия, ошибок нет
    certificate school14.example:443   до 2027-03-01 (86 дн.)

A certificate with less than ``CERTIFICATE_DAYS`` left is a problem, as is a sync whose actions
failed (a re-run retries them); a school never synced is not.

Exit 0 when everything works, 1 naming what does not (for cron and Ansible); ``--json`` for
machines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from typing import Any

import httpx
import sqlalchemy as sa

from appservice.store import LAST_SYNC, snapshots
from kernel import tls
from kernel.config import SchoolConfig
from kernel.contracts.appservice import LastSync
from kernel.db import engine_for, version_of
from kernel.health import WAIT_S, homeserver_url
from parta.stores import stores_of

CERTIFICATE_DAYS = 14
"""Fewer days left than this and ``parta status`` fails (the monitoring's alert, too)."""


@dataclass(frozen=True)
class Part:
    name: str
    ok: bool
    detail: str
    checks: dict[str, str] = field(default_factory=dict)


async def _ready(name: str, url: str) -> Part:
    try:
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            answer = await http.get(url)
    except httpx.HTTPError as e:
        return Part(name, False, f"не отвечает ({type(e).__name__})")
    try:
        body: Any = answer.json()
    except ValueError:
        body = {}
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    checks = {str(k): str(v) for k, v in checks.items()} if isinstance(checks, dict) else {}
    if answer.status_code >= 300:
        failing = [f"{k}: {v}" for k, v in checks.items() if v != "ok"]
        return Part(name, False, "; ".join(failing) or f"отвечает {answer.status_code}", checks)
    return Part(name, True, "работает", checks)


async def components(config: SchoolConfig) -> list[Part]:
    asked = [
        _ready("homeserver", homeserver_url(config.homeserver_url)),
        _ready("appservice", config.appservice_url + "/ready"),
        _ready("diary", config.diary_internal_url + "/ready"),
        _ready("bots", config.bots_url + "/ready"),
    ]
    if config.call_bridge.enabled:
        asked.append(_ready("call_bridge", config.call_bridge_url + "/ready"))
    return list(await asyncio.gather(*asked))


def stores(config: SchoolConfig) -> list[Part]:
    found = []
    for spec in stores_of(config):
        latest = max(m.version for m in spec.migrations)
        try:
            engine = engine_for(spec.url)
            try:
                version = version_of(engine, spec.name)
            finally:
                engine.dispose()
        except Exception as e:
            found.append(Part(f"store {spec.name}", False, f"недоступна ({type(e).__name__})"))
            continue
        if version == latest:
            found.append(Part(f"store {spec.name}", True, f"схема {version} из {latest}"))
        else:
            shown = "не создана" if version is None else f"схема {version}"
            detail = f"{shown}, нужна {latest}: parta db upgrade"
            found.append(Part(f"store {spec.name}", False, detail))
    return found


async def versions(config: SchoolConfig) -> Part:
    """This release, and the Synapse that answers (its admin API's ``server_version``)."""
    found = [f"parta {package_version('parta')}"]
    try:
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            answer = await http.get(config.homeserver_url + "/_synapse/admin/v1/server_version")
        found.append(f"Synapse {answer.json()['server_version']}")
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        found.append("Synapse: не отвечает")
    return Part("versions", True, ", ".join(found))


def last_sync(config: SchoolConfig) -> Part:
    """The last whole-school sync, as the appservice's store keeps it."""
    try:
        engine = engine_for(config.store_url())
        try:
            with engine.connect() as c:
                query = sa.select(snapshots.c.body).where(snapshots.c.name == LAST_SYNC)
                body = c.execute(query).scalar()
        finally:
            engine.dispose()
    except sa.exc.SQLAlchemyError as e:
        return Part("last sync", False, f"хранилище недоступно ({type(e).__name__})")
    if body is None:
        return Part("last sync", True, "ещё не было: parta sync")
    last = LastSync.model_validate_json(body)
    when = datetime.fromtimestamp(last.finished_s, UTC).strftime("%d.%m.%Y %H:%M UTC")
    if last.failed:
        first = f"; первое: {last.problems[0]}" if last.problems else ""
        detail = (
            f"{when}: не выполнено {last.failed} из {last.actions} (parta sync повторит){first}"
        )
        return Part("last sync", False, detail)
    return Part("last sync", True, f"{when}: {last.actions} действий, ошибок нет")


async def certificate(host: str, port: int, now: datetime | None = None) -> Part:
    name = f"certificate {host}:{port}"
    try:
        ends = await asyncio.to_thread(tls.expiry, host, port)
    except tls.NoCertificate as e:
        return Part(name, False, str(e))
    left = (ends - (now or datetime.now(UTC))).days
    detail = f"до {ends:%Y-%m-%d} ({left} дн.)"
    if left < 0:
        return Part(name, False, f"истёк {ends:%Y-%m-%d}")
    if left < CERTIFICATE_DAYS:
        return Part(name, False, f"{detail}: скоро истечёт, обновите")
    return Part(name, True, detail)


async def certificates(config: SchoolConfig) -> list[Part]:
    return list(await asyncio.gather(*(certificate(h, p) for h, p in tls.endpoints(config))))


def report(parts: list[Part]) -> dict[str, Any]:
    return {
        "ok": all(p.ok for p in parts),
        "parts": {p.name: {"ok": p.ok, "detail": p.detail, "checks": p.checks} for p in parts},
        "failing": [p.name for p in parts if not p.ok],
    }


def lines(parts: list[Part]) -> list[str]:
    width = max(len(p.name) for p in parts)
    return [
        f"{p.name:<{width}}  {'работает' if p.ok else 'НЕ РАБОТАЕТ'}"
        + ("" if p.ok and p.detail == "работает" else f"  {p.detail}")
        for p in parts
    ]
