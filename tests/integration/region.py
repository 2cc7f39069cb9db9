"""Two schools of one region, each its own Synapse and appservice, federating with each other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from appservice.diary_sync.model import Diary
from appservice.school_sync import SyncOptions
from kernel.config import (
    AppserviceConfig,
    CallBridgeConfig,
    DiaryConfig,
    HomeserverConfig,
    RegionConfig,
    RemoteServerConfig,
    SchoolConfig,
)
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from tests.ports import free_port, free_port_block


def region_configs(state: Path, names: tuple[str, str]) -> tuple[SchoolConfig, SchoolConfig]:
    ports = (free_port(), free_port())
    servers = tuple(f"localhost:{p}" for p in ports)
    region = RegionConfig(network_host=servers[0], schools=servers)

    def others(me: str) -> dict[str, RemoteServerConfig]:
        """The bridge reaches the other school's federation API, trusting its own certificate."""
        return {
            server: RemoteServerConfig(
                url=f"https://127.0.0.1:{port}",
                ca_file=state / name / "homeserver" / "tls" / "federation.crt",
            )
            for name, server, port in zip(names, servers, ports, strict=True)
            if server != me
        }

    return tuple(  # type: ignore[return-value]
        SchoolConfig(
            server_name=server,
            state_dir=state / name,
            homeserver=HomeserverConfig(client_port=free_port(), federation_port=port),
            appservice=AppserviceConfig(port=free_port()),
            diary=DiaryConfig(port=free_port()),
            call_bridge=CallBridgeConfig(
                port=free_port_block(2), workers=1, servers=others(server)
            ),
            region=region,
            for_tests=True,
        )
        for name, server, port in zip(names, servers, ports, strict=True)
    )


@contextmanager
def running_region(state: Path) -> Iterator[tuple[SchoolStack, SchoolStack]]:
    configs = region_configs(state, ("a", "b"))
    with ExitStack() as stacks:
        yield tuple(  # type: ignore[misc]
            stacks.enter_context(SchoolStack.for_config(c, with_diary=False)) for c in configs
        )


async def provision(stack: SchoolStack, diary: Diary) -> None:
    """The school sync (everybody joined) and then the region's network space."""
    client, store = stack.client(), stack.open_store()
    try:
        await stack.school_sync(client, store).run(diary, SyncOptions(eager=True))
        region = stack.region_sync(client, store)
        assert region is not None
        await region.run(diary)
    finally:
        store.close()
        await client.aclose()


@dataclass
class Member:
    """One person's own client: their access token on their own homeserver."""

    http: httpx.AsyncClient
    user_id: str
    token: str
    since: str = ""

    @classmethod
    async def of(cls, stack: SchoolStack, person: str, http: httpx.AsyncClient) -> Member:
        client, store = stack.client(), stack.open_store()
        try:
            user = stack.school_sync(client, store).puppet_id(SourcedId(person))
            token = await client.login_as(user)
        finally:
            store.close()
            await client.aclose()
        member = cls(http, user, token)
        await member.sync(wait_ms=0)  # start reading from now on
        return member

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(
            method, f"/_matrix/client/v3{path}", json=body, headers=self.auth, timeout=60
        )

    async def sync(self, wait_ms: int = 5000) -> dict[str, Any]:
        params = {"timeout": str(wait_ms)}
        if self.since:
            params["since"] = self.since
        answer = await self.http.get(
            "/_matrix/client/v3/sync", params=params, headers=self.auth, timeout=60
        )
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        self.since = data["next_batch"]
        return data

    async def wait_for(self, room: str, body: str, deadline_s: float = 60) -> float:
        """Seconds until ``body`` arrives in ``room`` (raises after ``deadline_s``)."""
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            data = await self.sync()
            joined = data.get("rooms", {}).get("join", {})
            events = joined.get(room, {}).get("timeline", {}).get("events", [])
            if any(e.get("content", {}).get("body") == body for e in events):
                return time.monotonic() - started
        raise AssertionError(f"{body!r} did not arrive in {room} within {deadline_s}s")

    async def wait_for_invite(self, room: str, deadline_s: float = 60) -> None:
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            data = await self.sync()
            if room in data.get("rooms", {}).get("invite", {}):
                return
        raise AssertionError(f"no invite to {room} within {deadline_s}s")

    async def send(self, room: str, body: str) -> None:
        txn = f"t{time.monotonic_ns()}"
        answer = await self.call(
            "PUT", f"/rooms/{room}/send/m.room.message/{txn}", {"msgtype": "m.text", "body": body}
        )
        answer.raise_for_status()
