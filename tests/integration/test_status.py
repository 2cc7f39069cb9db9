"""``parta status`` and every component's ``/ready`` (issue 18, item 2), on the real stack."""

from __future__ import annotations

import json

import httpx
import pytest

from appservice.store import MIGRATIONS
from parta.stack import SchoolStack
from tests.integration.test_cli import parta

pytestmark = pytest.mark.integration


async def test_every_component_says_it_is_ready_and_status_exits_zero(stack: SchoolStack) -> None:
    config = stack.config
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (
            config.appservice_url,
            config.diary_internal_url,
            config.bots_url,
            config.call_bridge_url,
        ):
            answer = await http.get(f"{url}/ready")
            assert answer.status_code == 200, (url, answer.text)
            assert answer.json()["ready"] is True
            assert all(v == "ok" for v in answer.json()["checks"].values()), answer.text
        assert (await http.get(f"{config.appservice_url}/health")).status_code == 200
    shown = parta("status", "-c", str(config.state_dir / "parta.yaml"), "--json", timeout=60)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    found = json.loads(shown.stdout)
    assert found["ok"] is True
    names = set(found["parts"])
    assert {"homeserver", "appservice", "diary", "bots", "call_bridge"} <= names
    assert "store bots.moderation" in names
    newest = MIGRATIONS[-1].version
    assert found["parts"]["store appservice"]["detail"].startswith(f"схема {newest} из {newest}")
    shown_versions = found["parts"]["versions"]["detail"]
    assert shown_versions.startswith("parta 0.")
    assert "Synapse 1." in shown_versions
    assert found["parts"]["last sync"]["ok"] is True


async def test_a_stopped_component_is_named_and_status_fails_until_it_is_back(
    stack: SchoolStack,
) -> None:
    config = str(stack.config.state_dir / "parta.yaml")
    stack.stop_bots()
    try:
        shown = parta("status", "-c", config, timeout=60)
        assert shown.returncode == 1, shown.stdout
        assert "не работает: bots" in shown.stderr
        assert any(
            line.startswith("bots") and "НЕ РАБОТАЕТ" in line for line in shown.stdout.splitlines()
        ), shown.stdout
        async with httpx.AsyncClient(timeout=10) as http:  # the bridge is fine without the bots
            bridge = await http.get(f"{stack.config.call_bridge_url}/ready")
        assert bridge.status_code == 200
    finally:
        stack.start_bots()
    again = parta("status", "-c", config, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
