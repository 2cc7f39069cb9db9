"""Every component's ``/metrics`` (issue 18.1), read with Prometheus's own parser after real
work on the session's school: a sync, a link, a message the homeserver pushes. The diary's
logins, the bots' posts and a call's packets are checked where that work happens
(test_diary_pages, test_bots, test_calls)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.ids import ServerName, SourcedId, room_alias
from kernel.matrix import MatrixClient
from kernel.secrets import read_secret_file
from parta.stack import SchoolStack
from tests.metrics import Samples, names, scrape, total, value
from tests.school import small_school
from web_client.linking import Linker

pytestmark = pytest.mark.integration

PREFIX = "met"


async def test_every_component_answers_on_its_own_port_with_its_own_families(
    stack: SchoolStack,
) -> None:
    urls = stack.config.metrics_urls
    assert set(urls) == {
        "synapse",
        "appservice",
        "diary",
        "bots",
        "call_bridge",
        "call_bridge_worker_0",
        "call_bridge_worker_1",
    }
    public = {
        stack.config.homeserver.client_port,
        stack.config.appservice.port,
        stack.config.diary.port,
        stack.config.bots.port,
        stack.config.call_bridge.port,
    }
    assert not any(f":{port}/" in url for url in urls.values() for port in public)
    expected = {
        "synapse": "synapse_http_server_requests_received_total",
        "appservice": "parta_appservice_transactions_total",
        "diary": "parta_diary_logins_total",
        "bots": "parta_bots_posts_total",
        "call_bridge": "parta_call_bridge_http_requests_total",
        "call_bridge_worker_0": "parta_call_bridge_packets_total",
    }
    for component, family in expected.items():
        found = names(await scrape(urls[component]))
        assert family in found, (component, sorted(found)[:20])
        assert "process_cpu_seconds_total" in found, component


async def test_a_sync_a_link_and_a_message_move_the_appservice_s_figures(
    stack: SchoolStack, school: SchoolSync, client: MatrixClient
) -> None:
    url = stack.config.metrics_urls["appservice"]
    started = time.time()
    diary = small_school(PREFIX)
    result = await school.run(diary, SyncOptions())
    after_sync = await scrape(url)
    # `parta sync` runs in its own process: the appservice reads its result from the store
    finished = value(after_sync, "parta_appservice_last_sync_finished_timestamp_seconds")
    assert finished >= started - 1
    assert value(after_sync, "parta_appservice_last_sync_actions") == len(result.actions)
    assert value(after_sync, "parta_appservice_last_sync_failures") == 0
    assert value(after_sync, "parta_appservice_people", linked="false") > 0
    assert 0 < value(after_sync, "parta_appservice_state_disk_used_ratio") < 1

    linker = Linker(
        stack.config.appservice_url,
        read_secret_file(stack.config.link_token_file),
        stack.config.server_name,
        {stack.config.server_name: stack.config.homeserver_url},
    )
    await linker.link(f"{PREFIX}-t4")
    linked = await scrape(url)
    assert _moved(after_sync, linked, "parta_appservice_links_total", result="ok") == 1
    # of this diary's people: one more linked, one fewer waiting (others' links do not count)
    assert _moved(after_sync, linked, "parta_appservice_people", linked="true") == 1
    assert _moved(after_sync, linked, "parta_appservice_people", linked="false") == -1
    assert value(linked, "parta_appservice_people", linked="true") == 1
    assert _moved(after_sync, linked, "parta_appservice_sync_runs_total", scope="link") == 1
    route = "/_parta/v1/link"
    assert _moved(after_sync, linked, "parta_appservice_http_requests_total", route=route) == 1

    key = room_key(SourcedId(f"{PREFIX}-org"), RoomKind.ANNOUNCEMENTS)
    room = await client.resolve_alias(room_alias(key, ServerName(stack.config.server_name)))
    assert room is not None
    await client.send_message(room, {"msgtype": "m.text", "body": "проверка метрик"}, "met-1")
    seen: list[Samples] = []

    async def pushed() -> bool:
        seen.append(await scrape(url))
        return _moved(linked, seen[-1], "parta_appservice_transactions_total", result="new") > 0

    await _eventually(pushed)
    now = seen[-1]
    assert _moved(linked, now, "parta_appservice_event_lag_seconds_count") > 0
    txn_route = "/_matrix/app/v1/transactions/{txnId}"
    assert _moved(linked, now, "parta_appservice_http_requests_total", route=txn_route) > 0
    # no person, room or token in any label
    labels = " ".join(str(series) for _name, series in now)
    assert f"{PREFIX}-" not in labels
    assert "!" not in labels
    assert "@" not in labels


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


async def _eventually(check: Callable[[], Awaitable[bool]], deadline_s: float = 20.0) -> None:
    """Scrapes until ``check`` holds (the homeserver pushes on its own time), bounded."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > deadline_s:
            raise AssertionError(f"not within {deadline_s}s")
        await asyncio.sleep(0.1)
