"""``parta bench federation``: message latency between two schools' servers.

::

    two fresh schools (a region) ─▶ a teacher of A makes a chat, a teacher of B joins
        ─▶ N messages A→B and N B→A: send, then the receiver's /sync long-poll sees it
        ─▶ baseline in the same run: N messages between two teachers on server A

Figures, never assertions: median and p95 in milliseconds, and the ratio of the
federated median to the same-server one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from appservice.school_sync import SyncOptions
from kernel.config import (
    AppserviceConfig,
    DiaryConfig,
    HomeserverConfig,
    RegionConfig,
    SchoolConfig,
)
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from synthetic.school import generate_school


@dataclass
class _Client:
    http: httpx.AsyncClient
    user_id: str
    token: str
    since: str = ""

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = await self.http.request(
            method,
            f"/_matrix/client/v3{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    async def sync(self, wait_ms: int) -> dict[str, Any]:
        query = f"?timeout={wait_ms}" + (f"&since={self.since}" if self.since else "")
        data = await self.call("GET", f"/sync{query}")
        self.since = data["next_batch"]
        return data

    async def until(self, room: str, body: str) -> None:
        while True:
            data = await self.sync(10_000)
            events = data.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {})
            if any(e.get("content", {}).get("body") == body for e in events.get("events", [])):
                return

    async def invited(self, room: str) -> None:
        while room not in (await self.sync(10_000)).get("rooms", {}).get("invite", {}):
            pass


def _configs(state: Path) -> tuple[SchoolConfig, SchoolConfig]:
    base = 18600
    servers = (f"localhost:{base + 40}", f"localhost:{base + 41}")
    region = RegionConfig(network_host=servers[0], schools=servers)
    return tuple(  # type: ignore[return-value]
        SchoolConfig(
            server_name=server,
            state_dir=state / f"school-{n}",
            homeserver=HomeserverConfig(client_port=base + n, federation_port=base + 40 + n),
            appservice=AppserviceConfig(port=base + 10 + n),
            diary=DiaryConfig(port=base + 20 + n),
            region=region,
            for_tests=True,
        )
        for n, server in enumerate(servers)
    )


async def _client(stack: SchoolStack, person: str, http: httpx.AsyncClient) -> _Client:
    client, store = stack.client(), stack.open_store()
    try:
        school = stack.school_sync(client, store)
        user = school.puppet_id(SourcedId(person))
        made = _Client(http, user, await client.login_as(user))
    finally:
        store.close()
        await client.aclose()
    await made.sync(0)
    return made


async def _provision(stack: SchoolStack, school_id: str, seed: int) -> None:
    diary = generate_school(25, seed=seed, school_name=f"Школа {seed}", school_id=school_id).diary
    client, store = stack.client(), stack.open_store()
    try:
        await stack.school_sync(client, store).run(diary, SyncOptions())
        region = stack.region_sync(client, store)
        if region is not None:
            await region.run(diary)
    finally:
        store.close()
        await client.aclose()


async def _latencies(sender: _Client, receiver: _Client, room: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        body = f"сообщение {i} от {sender.user_id}"
        started = time.perf_counter()
        await sender.call(
            "PUT",
            f"/rooms/{room}/send/m.room.message/b{time.monotonic_ns()}",
            {"msgtype": "m.text", "body": body},
        )
        await receiver.until(room, body)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def _chat(owner: _Client, guest: _Client) -> str:
    room = str((await owner.call("POST", "/createRoom", {"invite": [guest.user_id]}))["room_id"])
    await guest.invited(room)
    await guest.call("POST", f"/join/{room}", {})
    return room


def _figures(name: str, values: list[float]) -> dict[str, float]:
    return {
        f"{name}_median_ms": round(statistics.median(values), 1),
        f"{name}_p95_ms": round(statistics.quantiles(values, n=20)[18], 1),
    }


async def _measure(a: SchoolStack, b: SchoolStack, n: int) -> dict[str, Any]:
    await _provision(a, "org-a", 1)
    await _provision(b, "org-b", 2)
    async with (
        httpx.AsyncClient(base_url=a.config.homeserver_url) as on_a,
        httpx.AsyncClient(base_url=b.config.homeserver_url) as on_b,
    ):
        teacher_a = await _client(a, "tch-001", on_a)
        colleague = await _client(a, "tch-002", on_a)
        teacher_b = await _client(b, "tch-001", on_b)
        federated = await _chat(teacher_a, teacher_b)
        local = await _chat(teacher_a, colleague)
        a_to_b = await _latencies(teacher_a, teacher_b, federated, n)
        b_to_a = await _latencies(teacher_b, teacher_a, federated, n)
        same = await _latencies(teacher_a, colleague, local, n)
    result: dict[str, Any] = {"messages": n}
    for name, values in (("a_to_b", a_to_b), ("b_to_a", b_to_a), ("same_server", same)):
        result.update(_figures(name, values))
    result["federated_vs_same_server"] = round(
        statistics.median(a_to_b + b_to_a) / statistics.median(same), 2
    )
    return result


def run_bench(args: argparse.Namespace) -> int:
    state = args.state.resolve() / "federation"
    shutil.rmtree(state, ignore_errors=True)  # fresh servers every run
    configs = _configs(state)
    with ExitStack() as running:
        a, b = (running.enter_context(SchoolStack.for_config(c, with_diary=False)) for c in configs)
        result = asyncio.run(_measure(a, b, args.messages))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0
