"""The poll played by a load generator's clients: the teacher's start and tally, the
voters' answers (the events and the tally are :mod:`parta.bench.day_poll`'s).

::

    teacher here: at T0 + at, PUT m.poll.start ─▶ each /sync: responses into the tally;
                  a gapped timeline in the room: GET …/relations/{start}/m.reference/…
    a voter here: the first /sync with the start ─▶ a moment, then PUT m.poll.response;
                  a gapped timeline before that: GET …/messages (the start, paged back)
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from parta.bench.day_poll import (
    ANSWERS,
    POLL_RESPONSE,
    POLL_START,
    Tally,
    is_ours,
    response_content,
    start_content,
)

ROOMS = "/_matrix/client/v3/rooms"


class Load(Protocol):
    """What the poll needs of its load generator."""

    luck: random.Random
    arrived: asyncio.Event

    async def call(
        self, op: str, method: str, path: str, token: str, **kw: Any
    ) -> dict[str, Any] | None: ...

    def spawn(
        self, tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None], *, wake: bool = False
    ) -> None: ...


@dataclass
class PollPlay:
    load: Load
    plan: dict[str, Any]
    """``id``, ``room``, ``teacher``, ``voters``, ``at`` (seconds into the day)."""
    tally: Tally | None
    """The answers the teacher saw, if the teacher is a client here."""
    start_event: str | None = None
    answered: set[str] = field(default_factory=set)
    """Voters here who saw the start (and answer or answered it)."""
    answers_sent: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def of(cls, load: Load, plan: dict[str, Any] | None, users: set[str]) -> PollPlay | None:
        if plan is None:
            return None
        teacher_here = plan["teacher"] in users
        return cls(load, plan, Tally(frozenset(plan["voters"])) if teacher_here else None)

    @property
    def room(self) -> str:
        return str(self.plan["room"])

    @property
    def poll_id(self) -> str:
        return str(self.plan["id"])

    def _voter(self, user: str) -> bool:
        return user in self.plan["voters"] and user not in self.answered

    def event(self, user: str, token: str, room: str, event: dict[str, Any], now: float) -> None:
        """The teacher counts answers; a voter answers the first time it sees the poll."""
        if room != self.room:
            return
        if self.tally is not None and user == self.plan["teacher"]:
            if is_ours(event, POLL_RESPONSE, self.poll_id):
                self.tally.answer(str(event.get("sender")), now)
                if self.tally.complete:
                    self.load.arrived.set()
        elif self._voter(user) and is_ours(event, POLL_START, self.poll_id):
            self.answered.add(user)
            self.load.spawn(self.tasks, self.answer(token, str(event["event_id"])), wake=True)

    def gap(self, user: str, token: str, room: str) -> None:
        """A gapped timeline in the poll's room: filled as a client would."""
        if room != self.room:
            return
        if self.tally is not None and user == self.plan["teacher"] and self.start_event:
            self.load.spawn(self.tasks, self._responses(token, self.start_event), wake=True)
        elif self._voter(user):
            self.load.spawn(self.tasks, self._find_start(user, token), wake=True)

    async def _responses(self, token: str, start: str) -> None:
        path = (
            f"/_matrix/client/v1/rooms/{quote(self.room)}/relations/{quote(start)}"
            f"/m.reference/{POLL_RESPONSE}"
        )
        body = await self.load.call(
            "relations", "GET", path, token, user=self.plan["teacher"], params={"limit": "100"}
        )
        now = time.time()
        for event in (body or {}).get("chunk", []):
            if self.tally is not None and is_ours(event, POLL_RESPONSE, self.poll_id):
                self.tally.answer(str(event.get("sender")), now)

    async def _find_start(self, user: str, token: str) -> None:
        params = {"dir": "b", "limit": "50", "filter": json.dumps({"types": [POLL_START]})}
        path = f"{ROOMS}/{quote(self.room)}/messages"
        body = await self.load.call("messages", "GET", path, token, user=user, params=params)
        for event in (body or {}).get("chunk", []):
            if self._voter(user) and is_ours(event, POLL_START, self.poll_id):
                self.answered.add(user)
                await self.answer(token, str(event["event_id"]))

    async def answer(self, token: str, start: str) -> None:
        luck = self.load.luck
        await asyncio.sleep(luck.uniform(0.5, 2.0))  # reading the question
        content = response_content(self.poll_id, start, luck.randrange(len(ANSWERS)))
        path = f"{ROOMS}/{quote(self.room)}/send/{POLL_RESPONSE}/{self.poll_id}r"
        if await self.load.call("poll_response", "PUT", path, token, json=content) is not None:
            self.answers_sent += 1

    async def start(self, token: str, t0: float) -> None:
        """The teacher asks, at its moment of the day."""
        tally = self.tally
        if tally is None:
            return
        await asyncio.sleep(max(0.0, t0 + float(self.plan["at"]) - time.time()))
        tally.started_at = time.time()
        path = f"{ROOMS}/{quote(self.room)}/send/{POLL_START}/{self.poll_id}"
        body = await self.load.call(
            "poll_start", "PUT", path, token, json=start_content(self.poll_id)
        )
        if body is None:
            tally.started_at = None
        else:
            self.start_event = str(body["event_id"])

    def pending(self) -> bool:
        """A voter's answer still on its way, or the teacher still missing one."""
        tally = self.tally
        waiting = tally is not None and tally.started_at is not None and not tally.complete
        return waiting or bool(self.tasks)

    def report(self) -> dict[str, Any]:
        return {
            "poll": None if self.tally is None else self.tally.report(),
            "poll_answers_sent": self.answers_sent,
        }
