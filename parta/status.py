"""``parta status -c parta.yaml``: is every part of this school working? (F1, F2)

Each component's ``/ready`` (its database, the homeserver, what it calls), the homeserver's
own client API, and every store's schema against this release's migrations::

    homeserver   работает
    appservice   работает      database: ok
    bots         НЕ ГОТОВ      appservice: не отвечает (ConnectError)
    …
    store bots.moderation    схема 1 из 1

Exit 0 when everything works, 1 naming what does not (for cron and Ansible); ``--json`` for
machines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from kernel.config import SchoolConfig
from kernel.db import engine_for, version_of
from kernel.health import WAIT_S, homeserver_url
from parta.stores import stores_of


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
