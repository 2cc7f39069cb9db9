"""``bench day`` starts the morning only once Synapse's user directory has read the school's sync.

The database is a SQLite file with the two tables the wait reads, shaped as Synapse's; the
directory's position is moved by the test while the wait runs (the integration test of
``bench day`` reads a real Synapse's).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kernel.config import SchoolConfig
from parta.bench import day_settle
from parta.bench.day_settle import settle


def _synapse(tmp_path: Path, read: int | None, made: int) -> tuple[SchoolConfig, Path]:
    path = tmp_path / "homeserver" / "homeserver.db"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE user_directory_stream_pos (lock CHAR, stream_id BIGINT)")
        db.execute("INSERT INTO user_directory_stream_pos VALUES ('X', ?)", (read,))
        db.execute("CREATE TABLE events (stream_ordering BIGINT)")
        db.executemany("INSERT INTO events VALUES (?)", [(i,) for i in range(1, made + 1)])
    return SchoolConfig(server_name="school.example", state_dir=tmp_path), path


def _read_up_to(path: Path, position: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE user_directory_stream_pos SET stream_id = ?", (position,))


async def test_the_wait_ends_when_the_directory_reaches_the_events_made_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(day_settle, "POLL_S", 0.01)
    config, path = _synapse(tmp_path, read=None, made=500)  # not even started
    said: list[str] = []
    waiting = asyncio.create_task(settle(config, 60, said.append))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    _read_up_to(path, 499)  # one short
    await asyncio.sleep(0.1)
    assert not waiting.done()
    with sqlite3.connect(path) as db:  # the day's first events do not move the goal
        db.execute("INSERT INTO events VALUES (501)")
    _read_up_to(path, 500)
    result = await asyncio.wait_for(waiting, 5)
    assert result["settled"] is True
    assert result["settle_s"] >= 0.2


async def test_a_directory_that_never_catches_up_is_reported_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(day_settle, "POLL_S", 0.01)
    config, _ = _synapse(tmp_path, read=120, made=500)
    result = await asyncio.wait_for(settle(config, 0.2, lambda _: None), 5)
    assert result["settled"] is False
    assert result["directory_behind"] == 380
    assert result["settle_s"] >= 0.2
