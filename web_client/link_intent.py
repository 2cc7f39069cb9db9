"""Linking a person so that a diary killed half-way never leaves them half linked.

::

    «Привязать» ──intent (phone, password hash) in the diary's store──▶ appservice link
                 ──one transaction: account, phone, password; intent gone──▶ done
    diary start / a link the appservice could not answer ──▶ every intent still there is
                 linked again (idempotent) and finished, or dropped if refused

The person's new phone and password take effect only with the account, in the same
transaction, so their old password works until the link is whole. An account the person
already had is written into the intent only after they proved it with its password; a link
finished later leaves that account invited to its rooms (the proof's login is not kept), and
their own client joins them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from kernel.contracts.appservice import Linked
from kernel.ids import SourcedId
from web_client.errors import LinkError
from web_client.link_store import LinkStore

logger = logging.getLogger(__name__)

RETRY_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
"""Between passes over the intents the appservice could not answer (then every minute)."""

LinkCall = Callable[[str, str | None], Awaitable[Linked]]
"""The appservice's link: the person, and the account they already had (None: make one)."""


class Links:
    def __init__(
        self,
        store: LinkStore,
        link: LinkCall,
        now: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store, self._link, self._now, self._sleep = store, link, now, sleep
        self._task: asyncio.Task[None] | None = None

    async def link(
        self,
        person: SourcedId,
        phone: str | None = None,
        password_hash: str | None = None,
        user_id: str | None = None,
    ) -> Linked:
        """Link now; a transient failure leaves the intent to :meth:`kick`'s retries.
        ``user_id``: an account the person already had, proved before this call."""
        self._store.begin(person, phone, password_hash, self._now(), user_id)
        try:
            linked = await self._link(person, user_id)
        except LinkError as e:
            if e.transient:
                self.kick()
            else:
                self._store.drop(person)
            raise
        self._store.finish(person, linked.user_id)
        return linked

    async def finish_pending(self) -> int:
        """One pass over the intents left behind; how many are still waiting."""
        waiting = 0
        for intent in self._store.pending():
            try:
                linked = await self._link(intent.person_id, intent.user_id)
            except LinkError as e:
                if e.transient:
                    waiting += 1
                    continue
                logger.warning("a link left pending was refused: %s", e.reason)
                self._store.drop(intent.person_id)
                continue
            self._store.finish(intent.person_id, linked.user_id)
            logger.info("finished a link the diary had left pending (%s)", intent.person_id)
        return waiting

    def kick(self) -> None:
        """Finish the intents in the background, retrying while the appservice is away."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._until_done())

    async def _until_done(self) -> None:
        tries = 0
        while True:
            try:
                waiting = await self.finish_pending()
            except SQLAlchemyError as e:  # the diary's own store away: tried again later
                logger.warning("links left pending not finished yet: %s", e)
                waiting = 1
            if waiting == 0:
                return
            await self._sleep(RETRY_S[min(tries, len(RETRY_S) - 1)])
            tries += 1

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
