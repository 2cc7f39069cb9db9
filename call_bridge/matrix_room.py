"""What a call leaves in Matrix, written with the appservice's token.

- a widget in the call's room while it lasts (``im.vector.modular.widgets``), whose URL
  opens the call page — Element and other clients show it — and which names the
  worker serving it; emptied when the call ends;
- the call's chat, mirrored into the room as it is said: as the person themselves when
  they are one of the school's accounts, else by the school's bot with their name;
- the attendance list, sent to the lesson's moderators in a private chat with the bot.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from kernel.ids import RoomID, UserID, server_of

log = logging.getLogger(__name__)

WIDGET_TYPE = "im.vector.modular.widgets"
WIDGET_KEY = "parta_call"
DM_TAG = "org.parta.call_reports"
"""Account data of the bot: the private chat it keeps with each teacher."""


def _q(part: str) -> str:
    return quote(part, safe="")


class CallRoom:
    def __init__(self, homeserver_url: str, as_token: str, bot: UserID) -> None:
        self._http = httpx.AsyncClient(
            base_url=f"{homeserver_url.rstrip('/')}/_matrix/client/v3",
            headers={"Authorization": f"Bearer {as_token}"},
            timeout=30,
        )
        self._bot = bot

    def _local(self, user: str) -> bool:
        return server_of(user) == server_of(self._bot)

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, as_user: str | None = None
    ) -> httpx.Response:
        return await self._http.request(
            method, path, json=body, params={"user_id": as_user} if as_user else None
        )

    async def _send(
        self, room: RoomID, content: dict[str, Any], as_user: str | None = None
    ) -> bool:
        txn = secrets.token_urlsafe(12)
        path = f"/rooms/{_q(room)}/send/m.room.message/{txn}"
        answer = await self._request("PUT", path, content, as_user)
        if answer.status_code != 200:
            log.warning("could not post in %s: %s %s", room, answer.status_code, answer.text)
        return answer.status_code == 200

    async def _widget(self, room: RoomID, content: dict[str, Any], hosts: list[str]) -> None:
        path = f"/rooms/{_q(room)}/state/{WIDGET_TYPE}/{WIDGET_KEY}"
        for who in [None, *hosts]:  # the bot where it has the power, else a host of the call
            answer = await self._request("PUT", path, content, who)
            if answer.status_code == 200:
                return
        log.warning("no one could put the call's widget in %s", room)

    async def announce(
        self, room: RoomID, url: str, title: str, worker: int, hosts: list[str]
    ) -> None:
        widget = {
            "type": "m.custom",
            "url": url,
            "name": title,
            "id": WIDGET_KEY,
            "creatorUserId": self._bot,
            # the bridge host and the process serving the call: every client reaches them
            "data": {"title": title, "host": urlsplit(url).netloc, "worker": worker},
        }
        await self._widget(room, widget, [h for h in hosts if self._local(h)])
        await self._send(
            room,
            {
                "msgtype": "m.notice",
                "body": f"{title} — идёт звонок. Присоединиться: {url}",
                "format": "org.matrix.custom.html",
                "formatted_body": f'{title} — идёт звонок. <a href="{url}">Присоединиться</a>',
            },
        )

    async def finish(self, room: RoomID, title: str, hosts: list[str]) -> None:
        await self._widget(room, {}, [h for h in hosts if self._local(h)])
        await self._send(room, {"msgtype": "m.notice", "body": f"{title} — звонок завершён"})

    async def mirror(self, room: RoomID, user: str, name: str, text: str) -> None:
        """Chat of the call into the room, so nothing said is lost."""
        if self._local(user) and await self._send(
            room, {"msgtype": "m.text", "body": text}, as_user=user
        ):
            return
        await self._send(room, {"msgtype": "m.text", "body": f"{name}: {text}"})

    async def tell(self, user: str, text: str) -> RoomID | None:
        """A private message from the bot (the chat is made once and remembered)."""
        if not self._local(user):
            return None
        path = f"/user/{_q(self._bot)}/account_data/{DM_TAG}"
        known = await self._request("GET", path)
        rooms: dict[str, str] = known.json() if known.status_code == 200 else {}
        room = rooms.get(user)
        if room is None:
            made = await self._request(
                "POST",
                "/createRoom",
                {
                    "preset": "trusted_private_chat",
                    "is_direct": True,
                    "invite": [user],
                    "name": "Отчёты о звонках",
                },
            )
            if made.status_code != 200:
                log.warning("could not open a chat with %s: %s", user, made.text)
                return None
            room = str(made.json()["room_id"])
            await self._request("POST", f"/join/{_q(room)}", {}, as_user=user)
            await self._request("PUT", path, {**rooms, user: room})
        await self._send(RoomID(room), {"msgtype": "m.text", "body": text})
        return RoomID(room)

    async def aclose(self) -> None:
        await self._http.aclose()
