"""Many light Matrix clients in one process: the load generator of ``parta bench day``.

::

    stdin: the plan (one JSON line) ─▶ "login"   each client logs in with the appservice's
                                                 token (a new device), one access token each
                                     ─▶ "morning" each client's first /sync at a random moment
                                                 of the window, then long-polls for ever
                                     ─▶ "day T0"  this process's share of the school's messages
                                                 at T0 + their offsets (typing first; a photo
                                                 is uploaded, then sent as m.image), and the
                                                 poll if its teacher is here
                                     ─▶ "report S" waits (at most S) until every client saw
                                                 every message of its rooms (photos fetched,
                                                 the poll answered and tallied), then reports
    stdout: one JSON line per step ("ready", "synced", "sent", "report")

One ``httpx.AsyncClient`` (a connection each) serves every logical client; no Matrix
library: a client is an access token, a ``next_batch`` and what it has received. A
recipient reads the send time the sender put in the content, so latency needs no pairing.
Each request goes where a reverse proxy in front of Synapse's workers would send it
(:mod:`parta.bench.day_route`): a client's syncs to its own worker, writes to main.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from parta.bench.day_media import fetch, image_content, intact, png, upload
from parta.bench.day_poll_play import PollPlay
from parta.bench.day_route import base_for

FILTER = json.dumps(
    {"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 20}}},
    separators=(",", ":"),
)
"""What a real client asks for: members lazily, the last 20 events of each room."""
LONG_POLL_MS = 30_000
SENT_KEY = "parta.bench.sent"
ID_KEY = "parta.bench.id"
SYNC_PATH = "/_matrix/client/v3/sync"


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
    fetched: dict[str, float] = field(default_factory=dict)
    """Photo's message id → latency until its bytes were downloaded (seconds)."""


@dataclass(kw_only=True)
class Load:
    http: httpx.AsyncClient
    clients: list[Client]
    as_token: str
    messages: list[dict[str, Any]]
    morning_s: float
    receipt_share: float
    typing: bool
    luck: random.Random
    main: str
    workers: list[str] = field(default_factory=list)
    """Generic workers' base URLs: the reads a proxy would send there go there."""
    poll: PollPlay | None = None
    uploads: list[float] = field(default_factory=list)
    photos_sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    receipts: set[asyncio.Task[None]] = field(default_factory=set)
    fetching: set[asyncio.Task[None]] = field(default_factory=set)

    async def request(
        self, op: str, method: str, path: str, token: str, *, user: str = "", **kw: Any
    ) -> httpx.Response | None:
        """One request, to the process a reverse proxy would send it to; a failure is
        counted by its kind and answered with None.

        A keep-alive connection the server closed meanwhile is tried once more, as
        browsers do (every request here is idempotent: sends carry a transaction id)."""
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        url = base_for(method, path, user, self.main, self.workers) + path
        try:
            try:
                answer = await self.http.request(method, url, headers=headers, **kw)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                self.retries[op] += 1
                answer = await self.http.request(method, url, headers=headers, **kw)
        except httpx.HTTPError as e:
            self.errors[f"{op}:{type(e).__name__}"] += 1
            return None
        if answer.status_code != 200:
            self.errors[f"{op}:{answer.status_code}:{_errcode(answer)}"] += 1
            return None
        return answer

    async def call(
        self, op: str, method: str, path: str, token: str, **kw: Any
    ) -> dict[str, Any] | None:
        """As :meth:`request`, the answer's JSON."""
        answer = await self.request(op, method, path, token, **kw)
        if answer is None:
            return None
        body: dict[str, Any] = answer.json()
        return body

    def spawn(
        self, tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None], *, wake: bool = False
    ) -> None:
        """Run ``work`` beside the syncs; ``wake``: its end is what the report waits for."""
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if wake:
            task.add_done_callback(lambda _task: self.arrived.set())

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
        initial = client.since is None
        if client.since is not None:
            params["since"] = client.since
        body = await self.call(
            "sync", "GET", SYNC_PATH, client.token, user=client.user, params=params
        )
        if body is None:
            await asyncio.sleep(1.0)  # as a client does: a pause before trying again
            return
        now = time.time()
        client.since = str(body["next_batch"])
        for room, joined in body.get("rooms", {}).get("join", {}).items():
            timeline = joined.get("timeline", {})
            last = None
            for event in timeline.get("events", []):
                if self.poll is not None:
                    self.poll.event(client.user, client.token, room, event, now)
                content = event.get("content", {})
                if ID_KEY in content and event.get("sender") != client.user:
                    self.received(client, content, now)
                    last = event["event_id"]
            if timeline.get("limited") and not initial and self.poll is not None:
                self.poll.gap(client.user, client.token, room)
            if last is not None and self.luck.random() < self.receipt_share:
                self.spawn(self.receipts, self.receipt(client, room, last))
        if not client.expected - client.received.keys():
            self.arrived.set()

    def received(self, client: Client, content: dict[str, Any], now: float) -> None:
        message = str(content[ID_KEY])
        if message in client.received:
            return
        sent = int(content[SENT_KEY]) / 1e6
        client.received[message] = now - sent
        if content.get("msgtype") == "m.image" and message in client.expected:
            self.spawn(self.fetching, self.fetch_photo(client, message, content, sent))

    async def fetch_photo(
        self, client: Client, message: str, content: dict[str, Any], sent: float
    ) -> None:
        data = await fetch(self, client.token, content)
        if data is None:
            return
        if not intact(content, data):
            self.errors["download:mismatch"] += 1
            return
        client.fetched[message] = time.time() - sent

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
        stamp = time.time()
        if message.get("photo"):
            data = png(zlib.crc32(str(message["id"]).encode()))
            mxc = await upload(self, sender.token, data)
            if mxc is None:
                return
            self.uploads.append(time.time() - stamp)
            content = image_content(mxc, len(data))
        else:
            content = {"msgtype": "m.text", "body": str(message["body"])}
        content[ID_KEY] = message["id"]
        content[SENT_KEY] = int(stamp * 1e6)  # events carry no floats: microseconds
        path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{message['id']}"
        if await self.call("send", "PUT", path, sender.token, json=content) is not None:
            self.sent += 1
            self.photos_sent += bool(message.get("photo"))

    async def day(self, t0: float) -> None:
        mine = {c.user: c for c in self.clients}
        work = [self.send(mine[m["sender"]], m, t0) for m in self.messages if m["sender"] in mine]
        if self.poll is not None and self.poll.tally is not None:
            work.append(self.poll.start(mine[self.poll.plan["teacher"]].token, t0))
        await asyncio.gather(*work)

    def pending(self) -> bool:
        """Some client still misses a message, the teacher an answer, a voter its send."""
        missing = any(c.expected - c.received.keys() for c in self.clients)
        return missing or (self.poll is not None and self.poll.pending())

    async def drained(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.pending():
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                return
        left = deadline - time.monotonic()
        if self.fetching and left > 0:
            await asyncio.wait(set(self.fetching), timeout=left)

    def report(self) -> dict[str, Any]:
        expected = sum(len(c.expected) for c in self.clients)
        deliveries = [
            (message, round(latency, 4))
            for c in self.clients
            for message, latency in c.received.items()
            if message in c.expected
        ]
        fetches = [
            (message, round(latency, 4))
            for c in self.clients
            for message, latency in c.fetched.items()
        ]
        return {
            "event": "report",
            "expected": expected,
            "delivered": len(deliveries),
            "deliveries": deliveries,
            "fetches": fetches,
            "uploads": [round(s, 4) for s in self.uploads],
            "first_sync_s": [c.first_sync_s for c in self.clients if c.first_sync_s is not None],
            "sent": self.sent,
            "photos_sent": self.photos_sent,
            **(self.poll.report() if self.poll is not None else {"poll": None}),
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
    room = len(clients) * 4 + 16  # a long-poll, a send, a receipt and a download each
    limits = httpx.Limits(max_connections=room, max_keepalive_connections=room)
    timeout = httpx.Timeout(LONG_POLL_MS / 1000 + 60, connect=30)
    async with httpx.AsyncClient(
        base_url=plan["homeserver"], limits=limits, timeout=timeout
    ) as http:
        load = Load(
            http=http,
            clients=clients,
            as_token=plan["as_token"],
            messages=plan["messages"],
            morning_s=float(plan["morning_s"]),
            receipt_share=float(plan["receipt_share"]),
            typing=bool(plan["typing"]),
            luck=random.Random(int(plan["seed"])),  # noqa: S311 - a repeatable load, not a secret
            main=str(plan["homeserver"]),
            workers=list(plan.get("workers", [])),
        )
        load.poll = PollPlay.of(load, plan.get("poll"), {c.user for c in clients})
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
    answering = load.poll.tasks if load.poll is not None else set()
    chores = (*lives, *load.receipts, *load.fetching, *answering)
    for task in chores:
        task.cancel()
    await asyncio.gather(*chores, return_exceptions=True)


def main() -> None:
    plan = json.loads(sys.stdin.readline())
    asyncio.run(run(plan))


if __name__ == "__main__":
    main()
