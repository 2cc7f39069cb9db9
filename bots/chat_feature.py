"""Teacher-made chats (B7): ``!чат Название [для …]`` and ``!отозвать``.

::

    !чат Кружок ─▶ staff by the roster? ─▶ a new chat (never federating: it may hold
        students), its teacher in it as moderator ─▶ a link to the diary's join page and
        its QR code in the chat where it was asked for (:mod:`bots.invites`)
    !отозвать (in the made chat, by its staff) ─▶ its links stop working

Who then joins by the link is the homeserver's policy's business: the bot's invitation
passes the same room rule as anybody's (:mod:`bots.invites_api`).
"""

from __future__ import annotations

import io

import segno

from bots.context import BotContext, CommandFailed
from bots.invites import (
    AUDIENCE_LABELS,
    CHAT_COMMAND,
    CHAT_POWER,
    REVOKE_COMMAND,
    Audience,
    Invite,
    InviteBook,
    expiry,
    new_token,
    parse_chat,
)
from bots.lesson_posts import transaction
from bots.registry import Command, Feature
from kernel.ids import RoomID, UserID
from kernel.matrix import MatrixFailure

USAGE = (
    "Как создать чат: !чат Название чата [для учеников | для родителей | для учителей | для класса]"
)


def qr_png(url: str) -> bytes:
    """The link as a QR code image (segno)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


class Chats:
    def __init__(self, ctx: BotContext, book: InviteBook) -> None:
        self._ctx, self._book = ctx, book

    def feature(self) -> Feature:
        return Feature("chats", {CHAT_COMMAND: self._make, REVOKE_COMMAND: self._revoke})

    async def _make(self, command: Command) -> None:
        """Staff only, by the roster: a link lets people in on the teacher's word."""
        if self._book.made(command.event_id) is not None:
            return
        if not command.by_staff:
            await self._ctx.reply(command, "Создавать чаты могут учителя и администрация")
            return
        parsed = parse_chat(command.body)
        if parsed is None:
            await self._ctx.reply(command, USAGE)
            return
        name, audience = parsed
        room = await self._new_chat(command, name)
        token, expires = new_token(), expiry(self._ctx.now())
        invite = Invite(room, name, command.sender, expires, False, audience, command.room_id)
        self._book.add(token, invite)
        url = f"{self._ctx.diary_url}/join/{token}"
        whom = "" if audience is Audience.ALL else f" {AUDIENCE_LABELS[audience]}"
        text = (
            f"Чат «{name}» создан. Ссылка для вступления{whom} "
            f"(действует до {expires:%d.%m.%Y}): {url}"
        )
        await self._ctx.reply(command, text)
        await self._qr(command, name, url)

    async def _new_chat(self, command: Command, name: str) -> str:
        matrix = self._ctx.matrix
        body = {
            "name": name,
            "room_version": "12",  # its creator (the bot) is not listed in power levels
            "preset": "private_chat",
            "creation_content": {"m.federate": False},  # it may hold students
            "invite": [command.sender],
            "power_level_content_override": {"users": {command.sender: CHAT_POWER}},
            "initial_state": [
                {
                    "type": "m.room.history_visibility",
                    "state_key": "",
                    "content": {"history_visibility": "shared"},
                }
            ],
        }
        try:
            room = str(await matrix.create_room(body))
            await matrix.join(RoomID(room), UserID(command.sender))
        except MatrixFailure as e:
            raise CommandFailed(f"could not make the chat: {e}", e.transient) from e
        self._book.remember_made(command.event_id, room)  # a retry from here makes no second
        return room

    async def _qr(self, command: Command, name: str, url: str) -> None:
        png = qr_png(url)
        try:
            uri = await self._ctx.matrix.upload(png, "image/png", "qr.png")
        except MatrixFailure as e:
            raise CommandFailed(f"could not upload the QR code: {e}", e.transient) from e
        content = {
            "msgtype": "m.image",
            "body": f"QR-код для вступления в чат «{name}»",
            "url": uri,
            "info": {"mimetype": "image/png", "size": len(png)},
        }
        await self._ctx.send(command.room_id, content, transaction("qr", command.event_id))

    async def _revoke(self, command: Command) -> None:
        if command.body.strip() != REVOKE_COMMAND:
            return
        if not await self._ctx.staff_here(command):
            await self._ctx.reply(command, "Отзывать ссылки могут учителя и администрация")
            return
        count = self._book.revoke_room(command.room_id)
        await self._ctx.reply(command, f"Ссылки на этот чат отозваны: {count}")
