"""``!кто`` (B2): a member of staff answers her own message with ``!кто`` in any client, and
the school's bot says who has read it and who not yet — the list «Кто прочитал» shows in
«Чаты», counted by the appservice from the room's read receipts::

    !кто (a reply) ─▶ staff by the roster? ─▶ her own message? ─▶ GET /_parta/v1/readers
        ─▶ «Прочитали 3 из 5: …. Ещё не прочитали: …»
"""

from __future__ import annotations

from bots.context import BotContext, CommandFailed
from bots.registry import Command, Feature
from kernel.contracts.appservice import readers
from kernel.contracts.base import ApiError
from kernel.ids import RoomID
from kernel.matrix import MatrixFailure

COMMAND = "!кто"
USAGE = "Ответьте командой !кто на своё сообщение: бот скажет, кто его прочитал"
SHOWN = 30
"""Names listed in the chat; the rest are counted («и ещё 12»)."""


def summary(read: list[str], unread: list[str]) -> str:
    def names(people: list[str]) -> str:
        shown = ", ".join(people[:SHOWN])
        return shown + (f" и ещё {len(people) - SHOWN}" if len(people) > SHOWN else "")

    text = f"Прочитали {len(read)} из {len(read) + len(unread)}"
    if read:
        text += f": {names(read)}"
    if unread:
        text += f". Ещё не прочитали: {names(unread)}"
    return text


class Readers:
    def __init__(self, ctx: BotContext, appservice: tuple[str, str]) -> None:
        self._ctx, (self._url, self._token) = ctx, appservice

    def feature(self) -> Feature:
        return Feature("readers", {COMMAND: self._who})

    async def _who(self, command: Command) -> None:
        if command.body.strip() != COMMAND:
            return
        if not command.by_staff:
            await self._ctx.reply(command, "Кто прочитал, видят сотрудники школы")
            return
        if command.reply_to is None:
            await self._ctx.reply(command, USAGE)
            return
        try:
            found = await readers(self._url, self._token, command.room_id, command.reply_to)
        except ApiError as e:
            if e.status in (0, 502, 503):
                raise CommandFailed(f"readers: {e}", True) from e
            await self._ctx.reply(command, "Этого сообщения бот не видел")
            return
        if found.sender != command.sender:
            await self._ctx.reply(command, "Кто прочитал, видно только для своих сообщений")
            return
        read = [await self._name(command.room_id, u) for u in found.read]
        unread = [await self._name(command.room_id, u) for u in found.unread]
        await self._ctx.reply(command, summary(sorted(read), sorted(unread)))

    async def _name(self, room: str, user: str) -> str:
        try:
            member = await self._ctx.matrix.state_event_or_empty(
                RoomID(room), "m.room.member", user
            )
        except MatrixFailure:
            return user
        return str(member.get("displayname") or user)
