"""What a call leaves in Matrix, written with the appservice's token.

- a widget in the call's room while it lasts (``im.vector.modular.widgets``), whose URL
  opens the call page — Element and other clients show it — and which names the
  worker serving it; emptied when the call ends;
- the call's chat, mirrored into the room — but only what its author may say there::

      one of the school's accounts ──▶ posted as the person themselves: the homeserver
                                       applies the room's power levels and the school's
                                       policy; refused means not mirrored (never re-posted
                                       by the bot)
      an account of another server ──▶ the room's power levels for ``m.room.message``
                                       (room v12 creators counted); allowed: posted by the
                                       school's bot under the person's Matrix id, which no
                                       display name can imitate

- the attendance list, sent to the lesson's moderators in a private chat with the bot.
"""

from __future__ import annotations

import logging
import secrets
from html import escape
from typing import Any
from urllib.parse import urlsplit

import httpx

from kernel.ids import RoomID, UserID, server_of
from kernel.matrix import MatrixClient, MatrixFailure, PowerLevels

log = logging.getLogger(__name__)

WIDGET_TYPE = "im.vector.modular.widgets"
WIDGET_KEY = "parta_call"
DM_TAG = "org.parta.call_reports"
"""Account data of the bot: the private chat it keeps with each teacher."""
CHAT_FIELD = "org.parta.call_chat"
"""Marks a message that came from a call's chat, with its author's Matrix id."""


class CallRoom:
    def __init__(
        self,
        homeserver_url: str,
        as_token: str,
        bot: UserID,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._matrix = MatrixClient(
            homeserver_url, as_token, attempts=2, timeout=30, transport=transport
        )
        self._bot = bot

    def _local(self, user: str) -> bool:
        return server_of(user) == server_of(self._bot)

    async def _send(
        self, room: RoomID, content: dict[str, Any], as_user: UserID | None = None
    ) -> bool:
        try:
            await self._matrix.send_message(room, content, secrets.token_urlsafe(12), as_user)
        except MatrixFailure as e:
            log.warning("could not post in %s: %s", room, e)
            return False
        return True

    async def _widget(self, room: RoomID, content: dict[str, Any], hosts: list[UserID]) -> None:
        for who in [None, *hosts]:  # the bot where it has the power, else a host of the call
            try:
                await self._matrix.send_state(room, WIDGET_TYPE, content, WIDGET_KEY, who)
            except MatrixFailure:
                continue
            return
        log.warning("no one could put the call's widget in %s", room)

    async def announce(
        self, room: RoomID, url: str, title: str, worker: int, hosts: list[str]
    ) -> None:
        await self.put_widget(room, url, title, worker, hosts)
        await self._send(
            room,
            {
                "msgtype": "m.notice",
                "body": f"{title} — идёт звонок. Присоединиться: {url}",
                "format": "org.matrix.custom.html",
                "formatted_body": (
                    f'{escape(title)} — идёт звонок. <a href="{escape(url)}">Присоединиться</a>'
                ),  # the title holds the chat's name, which its people choose
            },
        )

    async def put_widget(
        self, room: RoomID, url: str, title: str, worker: int, hosts: list[str]
    ) -> None:
        """The call's widget («идёт звонок»), naming the worker that serves the call."""
        widget = {
            "type": "m.custom",
            "url": url,
            "name": title,
            "id": WIDGET_KEY,
            "creatorUserId": self._bot,
            # the bridge host and the process serving the call: every client reaches them
            "data": {"title": title, "host": urlsplit(url).netloc, "worker": worker},
        }
        await self._widget(room, widget, [UserID(h) for h in hosts if self._local(h)])

    async def widget_worker(self, room: RoomID) -> int | None:
        """The worker the call's widget in ``room`` names; None when no call is up there."""
        widget = await self._matrix.state_event_or_empty(room, WIDGET_TYPE, WIDGET_KEY)
        data = widget.get("data")
        worker = data.get("worker") if isinstance(data, dict) else None
        return worker if isinstance(worker, int) else None

    async def finish(self, room: RoomID, title: str, hosts: list[str]) -> None:
        await self.take_widget_down(room, hosts)
        await self.say_finished(room, title)

    async def take_widget_down(self, room: RoomID, hosts: list[str]) -> None:
        await self._widget(room, {}, [UserID(h) for h in hosts if self._local(h)])

    async def say_finished(self, room: RoomID, title: str) -> None:
        await self._send(room, {"msgtype": "m.notice", "body": f"{title} — звонок завершён"})

    async def may_post(self, room: RoomID, user: UserID) -> bool:
        """Whether ``user`` is in ``room`` now and may send messages there (its power levels,
        creators too). Asked at every line of a remote author: one who was removed from the
        room, or silenced, during the call says nothing more there."""
        for reader in [None, user] if self._local(user) else [None]:
            try:
                levels: PowerLevels = await self._matrix.power_levels(room, reader)
                member = await self._matrix.state_event_or_empty(
                    room, "m.room.member", user, reader
                )
            except MatrixFailure:
                continue
            joined = member.get("membership") == "join"
            return joined and levels.may_send(user, "m.room.message")
        return False

    async def mirror(self, room: RoomID, user: UserID, text: str) -> bool:
        """A line of the call's chat into the room, if its author may say it there."""
        mark = {CHAT_FIELD: {"sender": user}}
        if self._local(user):
            return await self._send(room, {"msgtype": "m.text", "body": text, **mark}, user)
        if not await self.may_post(room, user):
            return False
        content = {
            "msgtype": "m.text",
            "body": f"{user} (из звонка): {text}",
            **mark,
        }
        return await self._send(room, content)

    async def tell(self, user: str, text: str) -> RoomID | None:
        """A private message from the bot (the chat is made once and remembered)."""
        if not self._local(user):
            return None
        known = await self._matrix.account_data(self._bot, DM_TAG)
        room = known.get(user)
        if not isinstance(room, str):
            try:
                made = await self._matrix.create_room(
                    {
                        "preset": "trusted_private_chat",
                        "is_direct": True,
                        "invite": [user],
                        "name": "Отчёты о звонках",
                    }
                )
            except MatrixFailure as e:
                log.warning("could not open a chat with %s: %s", user, e)
                return None
            try:
                await self._matrix.join(made, UserID(user))
            except MatrixFailure as e:  # the invitation stays: they accept it from any client
                log.info("%s stays invited to %s: %s", user, made, e)
            await self._matrix.set_account_data(self._bot, DM_TAG, {**known, user: made})
            room = made
        await self._send(RoomID(room), {"msgtype": "m.text", "body": text})
        return RoomID(room)

    async def aclose(self) -> None:
        await self._matrix.aclose()
