"""The lesson bot's adapters: the diary's API in, the Matrix client out, its store to remember.

::

    every poll: GET diary /api/v1/distance-lessons (now − 1 day … now + horizon)
        ─▶ plan(lessons, posted, now)           (bots.lesson_posts, pure)
        ─▶ each action: one Matrix request as the school's bot (its appservice token),
           with a transaction id derived from the action, then remembered
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bots.lesson_posts import (
    Action,
    Cancel,
    Edit,
    Lesson,
    Post,
    Posted,
    Remind,
    cancelled_text,
    plan,
    reminder_text,
    transaction,
)
from bots.metrics import POSTS
from kernel.contracts.diary import DiaryApi, DistanceLessons
from kernel.db import Migration, create_missing, open_store, upsert
from kernel.ids import RoomAlias, RoomID
from kernel.matrix import MatrixClient, MatrixFailure

log = logging.getLogger(__name__)


_meta = sa.MetaData()
lesson_posts = sa.Table(
    "lesson_posts",
    _meta,
    sa.Column("lesson_id", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reminded", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cancelled", sa.Integer, nullable=False, server_default="0"),
)
STORE = "bots.lessons"
MIGRATIONS = (
    Migration(1, "lesson posts of parta 0.1", lambda op: create_missing(op, lesson_posts)),
)


class PostBook:
    """What the bot has posted, one row per lesson."""

    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    def all(self) -> dict[str, Posted]:
        with self._engine.connect() as db:
            rows = db.execute(sa.select(lesson_posts)).all()
        return {
            r.lesson_id: Posted(
                r.lesson_id, r.room_id, r.event_id, r.text, bool(r.reminded), bool(r.cancelled)
            )
            for r in rows
        }

    def save(self, posted: Posted) -> None:
        row = {
            **posted.__dict__,
            "reminded": int(posted.reminded),
            "cancelled": int(posted.cancelled),
        }
        with self._engine.begin() as db:
            upsert(db, lesson_posts, row)

    def close(self) -> None:
        self._engine.dispose()


def lessons_from(answer: DistanceLessons) -> list[Lesson]:
    """The diary's lessons that have a class chat to be posted in."""
    return [
        Lesson(
            lesson_id=item.lesson_id,
            subject=item.subject,
            class_title=item.class_title,
            starts_at=item.starts_at,
            ends_at=item.ends_at,
            room_alias=item.room_alias,
            call_url=item.call_url,
        )
        for item in answer.lessons
        if item.room_alias
    ]


class LessonBot:
    def __init__(
        self,
        matrix: MatrixClient,
        diary: DiaryApi,
        book: PostBook,
        now: Callable[[], datetime],
        remind: timedelta,
        horizon: timedelta,
    ) -> None:
        self._matrix, self._diary = matrix, diary
        self._book, self._now, self._remind, self._horizon = book, now, remind, horizon

    async def lessons(self, now: datetime) -> list[Lesson]:
        answer = await self._diary.distance_lessons(now - timedelta(days=1), now + self._horizon)
        return lessons_from(answer)

    async def once(self) -> list[Action]:
        """One reconciliation; returns what it did."""
        now = self._now()
        actions = plan(await self.lessons(now), self._book.all(), now, self._remind, self._horizon)
        done = []
        for action in actions:
            try:
                await self._apply(action)
                done.append(action)
            except BotError as e:
                log.warning("lesson bot: %s", e)
        return done

    async def _apply(self, action: Action) -> None:
        if isinstance(action, Post):
            lesson = action.lesson
            room = await self._room(lesson.room_alias)
            content = {
                "msgtype": "m.text",
                "body": lesson.text(),
                "format": "org.matrix.custom.html",
                "formatted_body": lesson.html(),
                "org.parta.lesson": {"lesson_id": lesson.lesson_id, "call_url": lesson.call_url},
            }
            event = await self._send(room, content, transaction("post", lesson.lesson_id))
            self._book.save(Posted(lesson.lesson_id, room, event, lesson.text(), False, False))
        elif isinstance(action, Edit):
            p = action.posted
            await self._edit(p, action.text, action.html)
            self._book.save(
                Posted(p.lesson_id, p.room_id, p.event_id, action.text, p.reminded, False)
            )
        elif isinstance(action, Remind):
            p = action.posted
            content = {"msgtype": "m.notice", "body": reminder_text(action.lesson)}
            await self._send(p.room_id, content, transaction("remind", p.lesson_id, p.text))
            self._book.save(Posted(p.lesson_id, p.room_id, p.event_id, p.text, True, p.cancelled))
        elif isinstance(action, Cancel):
            p = action.posted
            text = cancelled_text(p)
            await self._edit(p, text, text)
            self._book.save(Posted(p.lesson_id, p.room_id, p.event_id, p.text, p.reminded, True))

    async def _edit(self, posted: Posted, text: str, html: str) -> None:
        new = {"msgtype": "m.text", "body": text, "format": "org.matrix.custom.html",
               "formatted_body": html}  # fmt: skip
        content = {
            **new,
            "body": f"* {text}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": posted.event_id},
        }
        await self._send(posted.room_id, content, transaction("edit", posted.lesson_id, text))

    async def _room(self, alias: str) -> str:
        try:
            found = await self._matrix.resolve_alias(RoomAlias(alias))
        except MatrixFailure as e:
            raise BotError(f"no room {alias}: {e}") from e
        if found is None:
            raise BotError(f"no room {alias}")
        return found

    async def _send(self, room: str, content: dict[str, Any], txn: str) -> str:
        try:
            sent = await self._matrix.send_message(RoomID(room), content, txn)
        except MatrixFailure as e:
            POSTS.labels("lesson", "failed").inc()
            raise BotError(f"could not post in {room}: {e}") from e
        POSTS.labels("lesson", "ok").inc()
        return sent


class BotError(Exception):
    pass
