"""Homework (C2) in the chat: ``!дз``, hand-ins as files in reply, ``!сдали``.

::

    !дз Упражнение 5 ─▶ staff here? ─▶ «Домашнее задание: …» posted and remembered
    a file, photo or video in reply to it, from a pupil ─▶ recorded for them
    !сдали ─▶ staff here? ─▶ «Сдали (n): …», «Не сдали (n): …» for the latest task
"""

from __future__ import annotations

import time

from bots.context import STAFF_POWER, BotContext, CommandFailed
from bots.homework import (
    LIST_COMMAND,
    SET_COMMAND,
    HandedIn,
    Homework,
    HomeworkBook,
    report,
    task_text,
)
from bots.lesson_posts import transaction
from bots.registry import STAFF_ROLES, Command, Feature, FileReply
from kernel.ids import RoomID
from kernel.matrix import MatrixFailure


class HomeworkFeature:
    def __init__(self, ctx: BotContext, book: HomeworkBook) -> None:
        self._ctx, self._book = ctx, book

    def feature(self) -> Feature:
        return Feature(
            "homework", {SET_COMMAND: self._set, LIST_COMMAND: self._list}, self._hand_in
        )

    async def _set(self, command: Command) -> None:
        if self._book.was_set(command.event_id):
            return
        if not await self._ctx.staff_here(command):
            await self._ctx.reply(command, "Задавать домашние задания могут учителя")
            return
        text = task_text(command.body)
        if text is None:
            await self._ctx.reply(command, "Как задать: !дз текст задания")
            return
        content = {
            "msgtype": "m.text",
            "body": f"Домашнее задание: {text}\nЧтобы сдать, ответьте на это сообщение файлом.",
            "org.parta.homework": {"set_by": command.sender},
        }
        txn = transaction("homework", command.event_id)
        posted = await self._ctx.send(command.room_id, content, txn)
        homework = Homework(posted, command.room_id, text, command.sender, int(time.time() * 1000))
        self._book.set(homework, command.event_id)

    async def _hand_in(self, reply: FileReply) -> None:
        homework = self._book.get(reply.in_reply_to)
        if homework is None or reply.role in STAFF_ROLES:
            return  # not an answer to homework, or not a pupil's
        self._book.hand_in(
            homework.event_id, HandedIn(reply.sender, reply.event_id, reply.filename, reply.ts)
        )

    async def _list(self, command: Command) -> None:
        if command.body.strip() != LIST_COMMAND or not await self._ctx.staff_here(command):
            return
        given = self._book.of_room(command.room_id)
        if not given:
            await self._ctx.reply(command, "В этом чате ещё не задавали домашних заданий")
            return
        latest = given[-1]
        students = await self._students(command.room_id)
        text = report(latest, self._book.handed_in(latest.event_id), students)
        await self._ctx.reply(command, text)

    async def _students(self, room: str) -> dict[str, str]:
        """Members below staff level (the bot aside), by display name."""
        try:
            members = await self._ctx.matrix.joined_members(RoomID(room))
            levels = await self._ctx.matrix.power_levels(RoomID(room))  # once, not per member
        except MatrixFailure as e:
            raise CommandFailed(f"could not read {room}: {e}", e.transient) from e
        return {
            user: str(profile.get("display_name") or user)
            for user, profile in members.items()
            if user != self._ctx.bot and levels.of_user(user) < STAFF_POWER
        }
