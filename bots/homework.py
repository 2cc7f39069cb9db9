"""Homework (C2): set with the bot, handed in as files in reply, listed for the teacher.

- a member of staff writes ``!дз Упражнение 5 на с. 34`` in a class chat: the bot posts
  «Домашнее задание: …» and remembers that message;
- a student answers that message with a file, photo or video: it is recorded for them;
- ``!сдали`` in the chat: the bot lists, for the latest homework, who handed in and who
  did not (the chat's members below staff level); the diary reads the same through
  ``GET /_parta/v1/homework?room=<room id>``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SET_COMMAND = "!дз"
LIST_COMMAND = "!сдали"
FILE_TYPES = frozenset({"m.file", "m.image", "m.video", "m.audio"})


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


class HomeworkBook:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS homework (event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL,"
            " text TEXT NOT NULL, set_by TEXT NOT NULL, set_at_ms INTEGER NOT NULL,"
            " command_event TEXT UNIQUE NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS handed_in (event_id TEXT PRIMARY KEY,"
            " homework TEXT NOT NULL, student TEXT NOT NULL, filename TEXT NOT NULL,"
            " at_ms INTEGER NOT NULL)"
        )

    def set(self, homework: Homework, command_event: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO homework VALUES (?, ?, ?, ?, ?, ?)",
            (
                homework.event_id,
                homework.room_id,
                homework.text,
                homework.set_by,
                homework.set_at_ms,
                command_event,
            ),
        )

    def was_set(self, command_event: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM homework WHERE command_event = ?", (command_event,)
        ).fetchone()
        return row is not None

    def get(self, event_id: str) -> Homework | None:
        row = self._db.execute(
            "SELECT event_id, room_id, text, set_by, set_at_ms FROM homework WHERE event_id = ?",
            (event_id,),
        ).fetchone()
        return Homework(*row) if row else None

    def of_room(self, room_id: str) -> list[Homework]:
        rows = self._db.execute(
            "SELECT event_id, room_id, text, set_by, set_at_ms FROM homework WHERE room_id = ?"
            " ORDER BY set_at_ms",
            (room_id,),
        ).fetchall()
        return [Homework(*row) for row in rows]

    def hand_in(self, homework: str, item: HandedIn) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO handed_in VALUES (?, ?, ?, ?, ?)",
            (item.event_id, homework, item.student, item.filename, item.at_ms),
        )

    def handed_in(self, homework: str) -> list[HandedIn]:
        rows = self._db.execute(
            "SELECT student, event_id, filename, at_ms FROM handed_in WHERE homework = ?"
            " ORDER BY at_ms",
            (homework,),
        ).fetchall()
        return [HandedIn(*row) for row in rows]
