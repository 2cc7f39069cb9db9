"""Many light Matrix clients in one process: the load generator of ``parta bench day``.

::

    stdin: the plan (one JSON line) ─▶ "login"   each client logs in with the appservice's
                                                 token (a new device), one access token each
                                     ─▶ "morning" each client's first /sync at a random moment
                                                 of the window, then long-polls for ever
                                     ─▶ "day T0"  this process's share of the school's messages
                                                 at T0 + their offsets (typing first)
                                     ─▶ "report S" waits (at most S) until every client saw
                                                 every message of its rooms, then reports
    stdout: one JSON line per step ("ready", "synced", "sent", "report")

One ``httpx.AsyncClient`` (a connection each) serves every logical client; no Matrix
library: a client is an access token, a ``next_batch`` and what it has received. A
recipient reads the send time the sender put in the content, so latency needs no pairing.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

FILTER = json.dumps(
    {"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 20}}},
    separators=(",", ":"),
)
"""What a real client asks for: members lazily, the last 20 events of each room."""
LONG_POLL_MS = 30_000
SENT_KEY = "parta.bench.sent"
ID_KEY = "parta.bench.id"


@dataclass
class Client:
    user: str
    rooms: frozenset[str]
    expected: set[str]
    token: str = ""
    since: str | None = None
    first_sync_s: float | None = None
    received: dict[str, float] = field(default_factory=dict)
    """Message id → latency (seconds)."""


@dataclass
class Load:
    http: httpx.AsyncClient
    clients: list[Client]
    as_token: str
    messages: list[dict[str, Any]]
    morning_s: float
    receipt_share: float
    typing: bool
    luck: random.Random
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    receipts: set[asyncio.Task[None]] = field(default_factory=set)

    async def call(
        self, op: str, method: str, path: str, token: str, **kw: Any
    ) -> dict[str, Any] | None:
        """One request; a failure is counted by its kind and answered with None.

        A keep-alive connection the server closed meanwhile is tried once more, as
        browsers do (every request here is idempotent: sends carry a transaction id)."""
        headers = {"Authorization": f"Bearer {token}"}
        try:
            try:
                answer = await self.http.request(method, path, headers=headers, **kw)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                self.retries[op] += 1
                answer = await self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as e:
            self.errors[f"{op}:{type(e).__name__}"] += 1
            return None
        if answer.status_code != 200:
            self.errors[f"{op}:{answer.status_code}:{_errcode(answer)}"] += 1
            return None
        body: dict[str, Any] = answer.json()
        return body

    async def login(self, client: Client, gate: asyncio.Semaphore) -> None:
        body = {
            "type": "m.login.application_service",
            "identifier": {"type": "m.id.user", "user": client.user},
        }
        async with gate:
            for _ in range(5):
                answer = await self.call(
                    "login", "POST", "/_matrix/client/v3/login", self.as_token, json=body
                )
                if answer is not None:
                    client.token = str(answer["access_token"])
                    return
                await asyncio.sleep(1.0)  # a failed login is retried after a pause

    async def live(self, client: Client) -> None:
        """The client's day: its first sync at its moment of the morning, then long-polls."""
        await asyncio.sleep(self.luck.uniform(0, self.morning_s))
        started = time.monotonic()
        while client.since is None:
            await self.sync(client, timeout_ms=0)
        client.first_sync_s = time.monotonic() - started
        if all(c.first_sync_s is not None for c in self.clients if c.token):
            self.synced.set()
        while True:
            await self.sync(client, timeout_ms=LONG_POLL_MS)

    async def sync(self, client: Client, timeout_ms: int) -> None:
        params = {"filter": FILTER, "timeout": str(timeout_ms)}
        if client.since is not None:
            params["since"] = client.since
        body = await self.call(
            "sync", "GET", "/_matrix/client/v3/sync", client.token, params=params
        )
        if body is None:
            await asyncio.sleep(1.0)  # as a client does: a pause before trying again
            return
        now = time.time()
        client.since = str(body["next_batch"])
        for room, joined in body.get("rooms", {}).get("join", {}).items():
            last = None
            for event in joined.get("timeline", {}).get("events", []):
                content = event.get("content", {})
                if ID_KEY in content and event.get("sender") != client.user:
                    sent = int(content[SENT_KEY]) / 1e6
                    client.received.setdefault(content[ID_KEY], now - sent)
                    last = event["event_id"]
            if last is not None and self.luck.random() < self.receipt_share:
                task = asyncio.create_task(self.receipt(client, room, last))
                self.receipts.add(task)
                task.add_done_callback(self.receipts.discard)
        if not client.expected - client.received.keys():
            self.arrived.set()

    async def receipt(self, client: Client, room: str, event_id: str) -> None:
        path = f"/_matrix/client/v3/rooms/{quote(room)}/receipt/m.read/{quote(event_id)}"
        await self.call("receipt", "POST", path, client.token, json={})

    async def send(self, sender: Client, message: dict[str, Any], t0: float) -> None:
        await asyncio.sleep(max(0.0, t0 + float(message["at"]) - time.time()))
        room = quote(str(message["room"]))
        if self.typing:
            path = f"/_matrix/client/v3/rooms/{room}/typing/{quote(sender.user)}"
            await self.call(
                "typing", "PUT", path, sender.token, json={"typing": True, "timeout": 5000}
            )
        content = {
            "msgtype": "m.text",
            "body": str(message["body"]),
            ID_KEY: message["id"],
            SENT_KEY: int(time.time() * 1e6),  # events carry no floats: microseconds
        }
        path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{message['id']}"
        if await self.call("send", "PUT", path, sender.token, json=content) is not None:
            self.sent += 1

    async def day(self, t0: float) -> None:
        mine = {c.user: c for c in self.clients}
        await asyncio.gather(
            *(self.send(mine[m["sender"]], m, t0) for m in self.messages if m["sender"] in mine)
        )

    async def drained(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(c.expected - c.received.keys() for c in self.clients):
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                return

    def report(self) -> dict[str, Any]:
        expected = sum(len(c.expected) for c in self.clients)
        deliveries = [
            (message, round(latency, 4))
            for c in self.clients
            for message, latency in c.received.items()
            if message in c.expected
        ]
        return {
            "event": "report",
            "expected": expected,
            "delivered": len(deliveries),
            "deliveries": deliveries,
            "first_sync_s": [c.first_sync_s for c in self.clients if c.first_sync_s is not None],
            "sent": self.sent,
            "errors": dict(self.errors),
            "retries": dict(self.retries),
        }


def _errcode(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("errcode", ""))
    except ValueError:
        return ""


def clients_of(plan: dict[str, Any]) -> list[Client]:
    """Each client expects every message of its rooms that somebody else sends."""
    out = []
    for entry in plan["clients"]:
        rooms = frozenset(entry["rooms"])
        expected = {
            str(m["id"])
            for m in plan["messages"]
            if m["room"] in rooms and m["sender"] != entry["user"]
        }
        out.append(Client(entry["user"], rooms, expected))
    return out


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def run(plan: dict[str, Any]) -> None:
    clients = clients_of(plan)
    room = len(clients) * 3 + 16  # a long-poll, a send and a receipt each, at most
    limits = httpx.Limits(max_connections=room, max_keepalive_connections=room)
    timeout = httpx.Timeout(LONG_POLL_MS / 1000 + 60, connect=30)
    async with httpx.AsyncClient(
        base_url=plan["homeserver"], limits=limits, timeout=timeout
    ) as http:
        load = Load(
            http,
            clients,
            plan["as_token"],
            plan["messages"],
            float(plan["morning_s"]),
            float(plan["receipt_share"]),
            bool(plan["typing"]),
            random.Random(int(plan["seed"])),  # noqa: S311 - a repeatable load, not a secret
        )
        await steps(load)


async def steps(load: Load) -> None:
    lives: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).split():
        word, args = line[0], line[1:]
        if word == "login":
            started = time.monotonic()
            gate = asyncio.Semaphore(16)
            await asyncio.gather(*(load.login(c, gate) for c in load.clients))
            say({"event": "ready", "login_s": time.monotonic() - started})
        elif word == "morning":
            lives = [asyncio.create_task(load.live(c)) for c in load.clients if c.token]
            if lives:
                await load.synced.wait()
            say({"event": "synced"})
        elif word == "day":
            await load.day(float(args[0]))
            say({"event": "sent", "sent": load.sent})
        elif word == "report":
            await load.drained(float(args[0]))
            say(load.report())
        elif word == "stop":
            break
    for task in (*lives, *load.receipts):
        task.cancel()
    await asyncio.gather(*lives, *load.receipts, return_exceptions=True)


def main() -> None:
    plan = json.loads(sys.stdin.readline())
    asyncio.run(run(plan))


if __name__ == "__main__":
    main()
