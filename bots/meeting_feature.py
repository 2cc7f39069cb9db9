"""Parents' meetings (D6): ``!собрание`` in a parents' chat, the diary's meetings, reminders.

::

    !собрание 30.11 18:00 Итоги четверти ─▶ staff here? ─▶ parse (:mod:`bots.meetings`)
        ─▶ «Родительское собрание: … — Присоединиться» (the call of that chat), remembered
    diary ──POST /_parta/v1/meetings──▶ the same invitation, or a one-to-one meeting's room
    every poll ──▶ a reminder before each remembered meeting, once
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa

from bots.context import STAFF_POWER, BotContext, CommandFailed
from bots.invites import CHAT_POWER, InviteBook
from bots.lesson_posts import transaction
from bots.meetings import COMMAND, CommandError, Meeting, needs_reminder, parse
from bots.registry import Command, Feature
from kernel.db import Migration, create_missing, insert_new, open_store
from kernel.ids import RoomAlias, RoomID, UserID, server_of
from kernel.matrix import MatrixFailure

log = logging.getLogger(__name__)

_meta = sa.MetaData()
meetings = sa.Table(
    "meetings",
    _meta,
    sa.Column("command_event", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("starts_at", sa.Text, nullable=False),
    sa.Column("ends_at", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("reminded", sa.Integer, nullable=False, server_default="0"),
)
STORE = "bots.meetings"
MIGRATIONS = (Migration(1, "the meetings of parta 0.1", lambda op: create_missing(op, meetings)),)
Due = tuple[str, str, Meeting, str]
"""The meeting's key, its room, the meeting, its call's URL."""


class MeetingBook:
    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    def seen(self, key: str) -> bool:
        with self._engine.connect() as db:
            found = db.execute(sa.select(meetings.c.room_id).where(meetings.c.command_event == key))
            return found.first() is not None

    def add(self, key: str, room: str, meeting: Meeting, url: str, reminded: bool) -> None:
        """``reminded``: the invitation itself is the reminder (a meeting now, or soon)."""
        row = {
            "command_event": key,
            "room_id": room,
            "title": meeting.title,
            "starts_at": meeting.starts_at.isoformat(),
            "ends_at": meeting.ends_at.isoformat(),
            "url": url,
            "reminded": int(reminded),
        }
        with self._engine.begin() as db:
            insert_new(db, meetings, row)

    def due(self, now: datetime, before: timedelta) -> list[Due]:
        with self._engine.connect() as db:
            rows = db.execute(sa.select(meetings).where(meetings.c.reminded == 0)).all()
        found = []
        for r in rows:
            meeting = Meeting(
                r.title, datetime.fromisoformat(r.starts_at), datetime.fromisoformat(r.ends_at)
            )
            if meeting.starts_at - before <= now < meeting.ends_at:
                found.append((str(r.command_event), str(r.room_id), meeting, str(r.url)))
        return found

    def reminded(self, key: str) -> None:
        with self._engine.begin() as db:
            db.execute(meetings.update().where(meetings.c.command_event == key).values(reminded=1))

    def close(self) -> None:
        self._engine.dispose()


class Meetings:
    def __init__(
        self, ctx: BotContext, book: MeetingBook, rooms: InviteBook, remind: timedelta
    ) -> None:
        self._ctx, self._book, self._rooms, self._remind = ctx, book, rooms, remind

    def feature(self) -> Feature:
        return Feature("meetings", {COMMAND: self._command})

    async def _command(self, command: Command) -> None:
        if self._book.seen(command.event_id):
            return
        if not await self._ctx.staff_here(command):
            await self._ctx.reply(command, "Назначать собрания могут учителя и администрация школы")
            return
        try:
            meeting = parse(command.body, self._ctx.now())
        except CommandError as e:
            await self._ctx.reply(command, str(e))
            return
        await self.post(command.room_id, meeting, command.event_id)

    async def post(self, room: str, meeting: Meeting, key: str) -> str:
        """The invitation with the join link, posted in ``room`` once per ``key`` (a command's
        event, or the diary's request); reminded before the start. Returns the call's URL."""
        url = f"{self._ctx.bridge_url}/room/{quote(room, safe='!:')}"
        if self._book.seen(key):
            return url
        content = {
            "msgtype": "m.text",
            "body": meeting.text(url),
            "format": "org.matrix.custom.html",
            "formatted_body": meeting.html(url),
            "org.parta.meeting": {
                "starts_at": meeting.starts_at.isoformat(),
                "ends_at": meeting.ends_at.isoformat(),
                "call_url": url,
            },
        }
        await self._ctx.send(room, content, transaction("meeting", key))
        later = needs_reminder(meeting, self._ctx.now(), self._remind)
        self._book.add(key, room, meeting, url, reminded=not later)
        return url

    async def reminders(self) -> None:
        for key, room, meeting, url in self._book.due(self._ctx.now(), self._remind):
            content = {"msgtype": "m.notice", "body": f"Скоро начнётся: {meeting.text(url)}"}
            await self._ctx.send(room, content, transaction("meeting-remind", key))
            self._book.reminded(key)

    async def may_call(self, room: str, organiser: str) -> bool:
        return await self._ctx.power(room, organiser) >= STAFF_POWER

    async def resolve(self, alias: str) -> str | None:
        try:
            found = await self._ctx.matrix.resolve_alias(RoomAlias(alias))
        except MatrixFailure:
            return None
        return found

    async def one_to_one_room(self, key: str, organiser: str, parent: str, title: str) -> str:
        """A one-to-one meeting's own room: the organiser (moderating) and the parent, with
        the bot; made once per ``key``. Accounts of this school are joined at once, others
        find an invitation."""
        matrix, here = self._ctx.matrix, server_of(self._ctx.bot)
        room = self._rooms.made(key)
        if room is None:
            local = all(server_of(u) == here for u in (organiser, parent))
            try:
                made = await matrix.create_room(
                    {
                        "name": f"Встреча: {title}"[:120],
                        "room_version": "12",
                        "preset": "private_chat",
                        "creation_content": {"m.federate": not local},
                        "invite": [organiser, parent],
                        "power_level_content_override": {"users": {organiser: CHAT_POWER}},
                    }
                )
            except MatrixFailure as e:
                raise CommandFailed(f"could not make the meeting's room: {e}", e.transient) from e
            room = str(made)
            self._rooms.remember_made(key, room)
        for user in (organiser, parent):
            if server_of(user) == here:
                try:
                    await matrix.join(RoomID(room), UserID(user))
                except MatrixFailure as e:  # not one of the school's accounts: the invite stays
                    log.info("meeting room %s: %s stays invited (%s)", room, user, e)
        return room
