"""The bots read what people write to them from the appservice, and hand it to the features.

Synapse refuses ``/sync`` to appservice users, so the bots read what the appservice
received and stored (``/_parta/v1/commands``, see :mod:`appservice.commands_api`)::

    listener ──GET /_parta/v1/commands?since=<cursor>──▶ events, each with its sender's role
        ├─ a file in reply to a message ─▶ every feature's on_file
        └─ a command (its first word) ───▶ the feature that registered it
    the cursor is saved after each batch

Only what arrives after the bots first started is read. A command refused by the
homeserver for good (the bot is not in that room, say) is logged and passed over; one that
failed for a while (a 5xx, a rate limit) leaves the cursor where it was, and the batch is
read again — each feature remembers what it has done by the command's event id, so nothing
is done twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa

from bots.context import CommandFailed
from bots.registry import Command, FileReply, Registry, Report
from kernel.contracts.appservice import commands_since
from kernel.contracts.base import ApiError
from kernel.db import Migration, create_missing, open_store, upsert

log = logging.getLogger(__name__)

_meta = sa.MetaData()
cursor = sa.Table(
    "sync",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token", sa.Text),
)
STORE = "bots.listener"
MIGRATIONS = (
    Migration(
        1,
        "the cursor (kept beside the meetings before versions)",
        lambda op: create_missing(op, cursor),
    ),
)


class Cursor:
    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    def get(self) -> str | None:
        with self._engine.connect() as db:
            found = db.execute(sa.select(cursor.c.token).where(cursor.c.id == 1)).scalar()
        return None if found is None else str(found)

    def save(self, token: str) -> None:
        with self._engine.begin() as db:
            upsert(db, cursor, {"id": 1, "token": token})

    def close(self) -> None:
        self._engine.dispose()


class Listener:
    def __init__(
        self, registry: Registry, cursor_: Cursor, appservice: tuple[str, str], bot: str
    ) -> None:
        self._registry, self._cursor, self._bot = registry, cursor_, bot
        self._url, self._token = appservice

    async def once(self) -> int:
        """Read new events from the appservice; returns how many commands were handled."""
        since = self._cursor.get()
        if since is None:  # first start: no history, only what comes from now on
            self._cursor.save(str(int(time.time() * 1000)))
            return 0
        try:
            page = await commands_since(self._url, self._token, since)
        except ApiError as e:
            raise CommandFailed(f"commands: {e}", True) from e
        handled = 0
        for item in page.events:
            try:
                report = Report.of(item.event, item.sender_role, item.moderation_room)
                if report is not None:
                    for on_report in self._registry.report_handlers():
                        await on_report(report)
                    continue
                handled += await self._handle(item.event, item.sender_role)
            except CommandFailed as e:
                if e.transient:
                    raise  # the cursor stays: the whole batch is read again
                log.warning("command %s dropped: %s", item.event.get("event_id"), e)
        self._cursor.save(str(page.next))
        return handled

    async def _handle(self, event: dict[str, Any], role: str | None) -> int:
        reply = FileReply.of(event, role)
        if reply is not None:
            for on_file in self._registry.file_handlers():
                await on_file(reply)
            return 0
        command = Command.of(event, role)
        if command is None or command.sender == self._bot:
            return 0
        handler = self._registry.handler(command)
        if handler is None:
            return 0
        await handler(command)
        return 1
