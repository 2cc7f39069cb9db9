"""Reports of messages in «Модерация», the moderators' commands there, and their log.

::

    report (any client) ─▶ policy module ─▶ appservice ─▶ the listener ─▶ on_report
        ─▶ the message read as the reporter saw it ─▶ «Жалоба №N …» in «Модерация», once
    !удалить N / !предупредить N / !заглушить N / !исключить N in «Модерация», by the
    administration
        ─▶ done by the bot (a message the bot cannot remove, in a chat it is not in, is
           removed by its own author's account: the school's server holds it) ─▶ logged

The log is what the administration reads in the diary (Управление → Журнал действий,
``GET /_parta/v1/moderation``). A report's text stays in the moderators' room and the
log, never goes to another server: «Модерация» is a diary room of this school.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bots.context import BotContext, CommandFailed
from bots.lesson_posts import transaction
from bots.metrics import POSTS
from bots.moderation import COMMANDS, Action, Reported, done, muted, parse, usage, warning
from bots.registry import Command, Feature, Report
from kernel.db import Migration, create_missing, insert_new, open_store
from kernel.ids import RoomID, UserID, server_of
from kernel.matrix import MatrixFailure

log = logging.getLogger(__name__)

_meta = sa.MetaData()
reports = sa.Table(
    "reports",
    _meta,
    sa.Column("report_id", sa.Integer, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("reporter", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("moderation_room", sa.Text, nullable=False),
    sa.Column("reported_at", sa.Text, nullable=False),
)
actions = sa.Table(
    "actions",
    _meta,
    sa.Column("command_event", sa.Text, primary_key=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("moderator", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("report_id", sa.Integer, nullable=False),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
)
STORE = "bots.moderation"
MIGRATIONS = (
    Migration(
        1, "reports and moderators' actions", lambda op: create_missing(op, reports, actions)
    ),
)


class ModerationBook:
    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    def known(self, report_id: int) -> bool:
        with self._engine.connect() as db:
            query = sa.select(reports.c.report_id).where(reports.c.report_id == report_id)
            return db.execute(query).first() is not None

    def add(self, report: Report, author: str, moderation_room: str, at: datetime) -> None:
        row = {
            "report_id": report.report_id,
            "room_id": report.room_id,
            "event_id": report.event_id,
            "reporter": report.reporter,
            "author": author,
            "moderation_room": moderation_room,
            "reported_at": at.isoformat(),
        }
        with self._engine.begin() as db:
            insert_new(db, reports, row)

    def report(self, report_id: int) -> dict[str, Any] | None:
        with self._engine.connect() as db:
            row = db.execute(sa.select(reports).where(reports.c.report_id == report_id)).first()
        return dict(row._mapping) if row else None

    def acted(self, command_event: str) -> bool:
        with self._engine.connect() as db:
            query = sa.select(actions.c.at).where(actions.c.command_event == command_event)
            return db.execute(query).first() is not None

    def log(self, command: Command, action: Action, found: dict[str, Any], at: datetime) -> None:
        row = {
            "command_event": command.event_id,
            "at": at.isoformat(),
            "moderator": command.sender,
            "action": action.value,
            "report_id": found["report_id"],
            "room_id": found["room_id"],
            "event_id": found["event_id"],
            "author": found["author"],
        }
        with self._engine.begin() as db:
            insert_new(db, actions, row)

    def history(self, limit: int = 500) -> list[dict[str, Any]]:
        """The moderators' actions, newest first, each with its report."""
        query = (
            sa.select(actions, reports.c.reporter, reports.c.reported_at)
            .join(reports, reports.c.report_id == actions.c.report_id)
            .order_by(actions.c.at.desc())
            .limit(limit)
        )
        with self._engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(query)]

    def close(self) -> None:
        self._engine.dispose()


class Moderation:
    def __init__(self, ctx: BotContext, book: ModerationBook) -> None:
        self._ctx, self._book = ctx, book

    def feature(self) -> Feature:
        handlers = dict.fromkeys(COMMANDS, self._command)
        return Feature("moderation", handlers, on_report=self._report)

    async def _report(self, report: Report) -> None:
        if self._book.known(report.report_id):
            return
        if report.moderation_room is None:
            log.warning("report %d: this school has no «Модерация» yet", report.report_id)
            return
        matrix, reader = self._ctx.matrix, UserID(report.reporter)
        if server_of(reader) != server_of(self._ctx.bot):
            return  # another server's account reports to its own server
        try:
            event = await matrix.event(RoomID(report.room_id), report.event_id, reader)
            name = await matrix.state_event_or_empty(
                RoomID(report.room_id), "m.room.name", "", reader
            )
        except MatrixFailure as e:
            raise CommandFailed(f"report {report.report_id}: {e}", e.transient) from e
        author = str(event.get("sender", ""))
        names = await self._names(report.room_id, [report.reporter, author], reader)
        content = event.get("content", {})
        text = str(content.get("body") or content.get("msgtype") or "")
        when = datetime.fromtimestamp(int(event.get("origin_server_ts", 0)) / 1000)
        shown = Reported(
            report.report_id,
            names[report.reporter],
            report.role,
            str(name.get("name") or "личный чат"),
            when.strftime("%d.%m %H:%M"),
            f"{names[author]} ({author})",
            text,
            report.reason,
        )
        body = {"msgtype": "m.notice", "body": shown.notice(), "org.parta.report": {
            "report_id": report.report_id, "room_id": report.room_id, "event_id": report.event_id,
        }}  # fmt: skip
        key = f"report-{report.report_id}"
        await self._ctx.send(report.moderation_room, body, transaction("report", key))
        self._book.add(report, author, report.moderation_room, self._ctx.now())

    async def _names(self, room: str, users: list[str], reader: UserID) -> dict[str, str]:
        found = {}
        for user in users:
            try:
                member = await self._ctx.matrix.state_event_or_empty(
                    RoomID(room), "m.room.member", user, reader
                )
            except MatrixFailure:
                member = {}
            found[user] = str(member.get("displayname") or user)
        return found

    async def _command(self, command: Command) -> None:
        if self._book.acted(command.event_id):
            return
        parsed = parse(command.body)
        if parsed is None:
            await self._ctx.reply(command, usage(command.word))
            return
        action, number = parsed
        found = self._book.report(number)
        if found is None or found["moderation_room"] != command.room_id:
            await self._ctx.reply(command, f"Жалобы №{number} здесь нет")
            return
        if not await self._ctx.staff_here(command):
            await self._ctx.reply(command, "Решения по жалобам принимает администрация школы")
            return
        try:
            await self._act(action, found, command)
        except MatrixFailure as e:
            if e.transient:
                raise CommandFailed(str(e), True) from e
            why = getattr(e, "errcode", type(e).__name__)
            await self._ctx.reply(command, f"Жалоба №{number}: не получилось ({why})")
            return
        self._book.log(command, action, found, self._ctx.now())
        await self._ctx.reply(command, done(action, number))

    async def _act(self, action: Action, found: dict[str, Any], command: Command) -> None:
        matrix, room = self._ctx.matrix, RoomID(found["room_id"])
        author = UserID(found["author"])
        txn = transaction(action.value, command.event_id)
        if action is Action.REMOVE:
            reason = "удалено администрацией школы по жалобе"
            try:
                await matrix.redact(room, found["event_id"], reason, txn)
            except MatrixFailure:
                if server_of(author) != server_of(self._ctx.bot):
                    raise
                # the bot is not in a personal chat: the author's own account removes it
                await matrix.redact(room, found["event_id"], reason, txn, as_user=author)
        elif action is Action.MUTE:
            levels = await matrix.state_event(room, "m.room.power_levels")
            await matrix.send_state(room, "m.room.power_levels", muted(levels, author))
        elif action is Action.KICK:
            await matrix.kick(room, author, "исключён администрацией школы по жалобе")
        else:
            name = (await self._names(found["room_id"], [author], UserID(found["reporter"])))[
                author
            ]
            await matrix.send_message(room, {"msgtype": "m.notice", "body": warning(name)}, txn)
            POSTS.labels("moderation", "ok").inc()
