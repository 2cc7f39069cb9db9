"""Homework (C2): set with the bot, handed in as files in reply, listed for the teacher.

- a member of staff writes ``!дз Упражнение 5 на с. 34`` in a class chat: the bot posts
  «Домашнее задание: …» and remembers that message;
- a student answers that message with a file, photo or video: it is recorded for them;
- ``!сдали`` in the chat: the bot lists, for the latest homework, who handed in and who
  did not (the chat's members below staff level); the diary reads the same through
  ``GET /_parta/v1/homework?room=<room id>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from kernel.db import Migration, create_missing, insert_new, open_store

SET_COMMAND = "!дз"
LIST_COMMAND = "!сдали"


def task_text(body: str) -> str | None:
    text = " ".join(body.strip()[len(SET_COMMAND) :].split())
    return text[:2000] or None


@dataclass(frozen=True)
class Homework:
    event_id: str
    """The bot's «Домашнее задание» message: students answer it."""
    room_id: str
    text: str
    set_by: str
    set_at_ms: int


@dataclass(frozen=True)
class HandedIn:
    student: str
    event_id: str
    filename: str
    at_ms: int


def report(homework: Homework, handed: list[HandedIn], students: dict[str, str]) -> str:
    """«Сдали» / «Не сдали» by display name, for the teacher."""
    done = {h.student for h in handed}
    names_done = sorted(students.get(s, s) for s in done)
    names_missing = sorted(name for user, name in students.items() if user not in done)
    return "\n".join(
        [
            f"Домашнее задание: {homework.text}",
            f"Сдали ({len(names_done)}): {', '.join(names_done) or '—'}",
            f"Не сдали ({len(names_missing)}): {', '.join(names_missing) or '—'}",
        ]
    )


_meta = sa.MetaData()
homework_table = sa.Table(
    "homework",
    _meta,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("room_id", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at_ms", sa.BigInteger, nullable=False),
    sa.Column("command_event", sa.Text, unique=True, nullable=False),
)
handed_in_table = sa.Table(
    "handed_in",
    _meta,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("homework", sa.Text, nullable=False),
    sa.Column("student", sa.Text, nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)
STORE = "bots.homework"
MIGRATIONS = (
    Migration(
        1,
        "homework and hand-ins of parta 0.1",
        lambda op: create_missing(op, homework_table, handed_in_table),
    ),
)


class HomeworkBook:
    def __init__(self, url: str) -> None:
        self._engine = open_store(url, STORE, MIGRATIONS)

    @property
    def engine(self) -> Engine:
        """For the readiness check: the bots' database answers."""
        return self._engine

    def set(self, homework: Homework, command_event: str) -> None:
        row = {**homework.__dict__, "command_event": command_event}
        with self._engine.begin() as db:
            insert_new(db, homework_table, row)

    def was_set(self, command_event: str) -> bool:
        with self._engine.connect() as db:
            found = db.execute(
                sa.select(homework_table.c.event_id).where(
                    homework_table.c.command_event == command_event
                )
            )
            return found.first() is not None

    def get(self, event_id: str) -> Homework | None:
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(*_HOMEWORK).where(homework_table.c.event_id == event_id)
            ).first()
        return Homework(*row) if row else None

    def of_room(self, room_id: str) -> list[Homework]:
        with self._engine.connect() as db:
            rows = db.execute(
                sa.select(*_HOMEWORK)
                .where(homework_table.c.room_id == room_id)
                .order_by(homework_table.c.set_at_ms)
            ).all()
        return [Homework(*row) for row in rows]

    def hand_in(self, homework: str, item: HandedIn) -> None:
        row = {
            "event_id": item.event_id,
            "homework": homework,
            "student": item.student,
            "filename": item.filename,
            "at_ms": item.at_ms,
        }
        with self._engine.begin() as db:
            insert_new(db, handed_in_table, row)

    def handed_in(self, homework: str) -> list[HandedIn]:
        t = handed_in_table
        with self._engine.connect() as db:
            rows = db.execute(
                sa.select(t.c.student, t.c.event_id, t.c.filename, t.c.at_ms)
                .where(t.c.homework == homework)
                .order_by(t.c.at_ms)
            ).all()
        return [HandedIn(*row) for row in rows]

    def close(self) -> None:
        self._engine.dispose()


_HOMEWORK = (
    homework_table.c.event_id,
    homework_table.c.room_id,
    homework_table.c.text,
    homework_table.c.set_by,
    homework_table.c.set_at_ms,
)
