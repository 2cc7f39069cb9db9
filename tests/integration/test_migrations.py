"""Databases written before stores had versions are upgraded in place: every row survives,
the stores work on them, a second upgrade changes nothing, a newer database is refused.

The fixtures are the stores' own output at commit 82c6497 (tests/fixtures/databases/).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from appservice.store import MIGRATIONS, STORE, Store
from bots.homework import HomeworkBook
from bots.invites import Audience, Invite, InviteBook
from bots.lesson_bot import PostBook
from bots.listener import Cursor
from bots.meeting_feature import MeetingBook
from call_bridge.attendance import AttendanceBook
from call_bridge.replay import UsedTokens
from homeserver.postgres import drop_database, ensure_database
from kernel.config import DatabaseConfig, SchoolConfig
from kernel.db import SchemaTooNew, engine_for, upgrade
from kernel.ids import SourcedId
from parta.stores import stores_of, upgrade_all, versions
from tests.integration.conftest import POSTGRES_ADMIN_DSN, require_postgres
from tests.integration.test_cli import parta
from web_client.store import DiaryStore

pytestmark = pytest.mark.integration

V0 = Path(__file__).resolve().parents[1] / "fixtures" / "databases" / "v0"
ROWS: dict[str, dict[str, int]] = json.loads((V0 / "rows.json").read_text())
SQLITE_PLACES = {
    "appservice.db": "appservice.db",
    "diary.db": "diary.db",
    "bots/bots.db": "bots/bots.db",
    "bots/invites.db": "bots/invites.db",
    "bots/homework.db": "bots/homework.db",
    "bots/meetings.db": "bots/meetings.db",
    "call_bridge/used_tokens.db": "call_bridge/used_tokens.db",
    "call_bridge/attendance.db": "call_bridge/attendance.db",
}


def _config(state: Path, database: DatabaseConfig | None = None) -> SchoolConfig:
    config = SchoolConfig.model_validate(
        {"server_name": "school.test", "state_dir": state, "database": database or DatabaseConfig()}
    )
    (state / "parta.yaml").write_text(
        json.dumps(
            {
                "server_name": "school.test",
                "state_dir": str(state),
                "database": config.database.model_dump(),
            }
        ),
        encoding="utf-8",
    )
    return config


def _sqlite_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]  # noqa: S608
            for n in names
            if n != "parta_schema"
        }


def _works(config: SchoolConfig) -> None:
    """Each store, opened by its component's own class, finds what the old code wrote."""
    store = Store.open(config.store_url(), now_ms=lambda: 2)
    assert store.accounts()[SourcedId("fx-s1")].user_id == "@parta.fx-s1:school.test"
    assert store.snapshot("diary") is not None
    assert store.record_transaction("2", []).new  # and takes what comes next
    store.close()
    diary = DiaryStore.open(config.diary_store_url())
    account = diary.account(SourcedId("fx-s1"))
    assert account is not None
    assert account.matrix_user_id == "@parta.fx-s1:school.test"
    diary.close()
    invites = InviteBook(config.component_store_url("bots", "invites.db"))
    found = invites.find("invite-token")
    assert found is not None
    assert found.name == "Кружок"
    assert invites.made("$command") == "!club:school.test"
    invites.close()
    homework = HomeworkBook(config.component_store_url("bots", "homework.db"))
    assert [h.student for h in homework.handed_in("$hw")] == ["@parta.fx-s1:school.test"]
    homework.close()
    meetings_url = config.component_store_url("bots", "meetings.db")
    meetings = MeetingBook(meetings_url)
    assert meetings.seen("$meet")
    meetings.close()
    cursor = Cursor(meetings_url)
    assert cursor.get() == "1795000000000"  # the bots resume where they stopped
    cursor.close()
    posts = PostBook(config.component_store_url("bots", "bots.db"))
    assert posts.all()["fx-math@2026-12-07"].reminded is True
    posts.close()
    used = UsedTokens(config.component_store_url("bridge", "used_tokens.db"), 3600)
    assert used.first_use("school.test", "openid-token") is False  # still remembered
    used.close()
    book = AttendanceBook(config.component_store_url("bridge", "attendance.db"))
    assert [v.name for v in book.visits("lesson/fx-math@2026-12-07")] == ["Иван"]
    book.close()


@pytest.fixture
def sqlite_school(tmp_path: Path) -> Path:
    for fixture, place in SQLITE_PLACES.items():
        (tmp_path / place).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(V0 / "sqlite" / fixture, tmp_path / place)
    return tmp_path


def test_sqlite_databases_of_the_last_release_are_upgraded_in_place(sqlite_school: Path) -> None:
    config = _config(sqlite_school)
    first = parta("db", "upgrade", "-c", str(sqlite_school / "parta.yaml"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("обновлена (upgraded)") == len(stores_of(config))
    for fixture, place in SQLITE_PLACES.items():
        found = _sqlite_rows(sqlite_school / place)
        assert {t: found[t] for t in ROWS[fixture]} == ROWS[fixture], fixture  # every row
    assert versions(config) == {s.name: len(s.migrations) for s in stores_of(config)}
    again = parta("db", "upgrade", "-c", str(sqlite_school / "parta.yaml"))
    assert again.stdout.count("без изменений (unchanged)") == len(stores_of(config))
    _works(config)


def test_a_database_newer_than_the_code_is_refused_with_what_to_do(sqlite_school: Path) -> None:
    config = _config(sqlite_school)
    upgrade_all(config)
    with sqlite3.connect(sqlite_school / "appservice.db") as db:
        db.execute("UPDATE parta_schema SET version = 7 WHERE store = 'appservice'")
    with pytest.raises(SchemaTooNew, match="schema version 7, newer than this release knows"):
        Store.open(config.store_url(), now_ms=lambda: 0)
    refused = parta("db", "upgrade", "-c", str(sqlite_school / "parta.yaml"))
    assert refused.returncode != 0
    assert "newer than this release" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr


def test_a_fresh_database_and_an_upgraded_one_are_the_same(
    tmp_path: Path, sqlite_school: Path
) -> None:
    """Migration 1 creates the tables as the store defines them today: the day one of them
    changes, migration 1 needs a frozen copy, or this test tells."""
    upgrade_all(_config(sqlite_school))
    upgrade_all(_config(tmp_path))
    for place in SQLITE_PLACES.values():
        assert _columns(tmp_path / place) == _columns(sqlite_school / place), place


def _columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(c[1] for c in db.execute(f'PRAGMA table_info("{n}")')) for n in names}


@pytest.fixture
def postgres_prefix() -> Iterator[str]:
    require_postgres()
    prefix = f"parta_mig_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_{part}" for part in ("appservice", "diary", "bots", "bridge")]
    for name in names:
        ensure_database(POSTGRES_ADMIN_DSN, name)
    yield prefix
    for name in names:
        drop_database(POSTGRES_ADMIN_DSN, name)


@pytest.mark.postgres
def test_postgres_databases_of_the_last_release_are_upgraded_in_place(
    tmp_path: Path, postgres_prefix: str
) -> None:
    database = DatabaseConfig(
        kind="postgres",
        dsn="postgresql://postgres@127.0.0.1:5432/postgres",
        name_prefix=postgres_prefix,
    )
    config = _config(tmp_path, database)
    for part in ("appservice", "diary"):
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                f"{postgres_prefix}_{part}",
                "-f",
                str(V0 / "postgres" / f"{part}.sql"),
            ],
            check=True,
            capture_output=True,
        )
    upgraded = parta("db", "upgrade", "-c", str(tmp_path / "parta.yaml"))
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    for part in ("appservice", "diary"):
        dsn = f"host=127.0.0.1 user=postgres dbname={postgres_prefix}_{part}"
        with psycopg.connect(dsn) as db:
            for table, count in ROWS[f"postgres/{part}"].items():
                found = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
                assert found is not None
                assert found[0] == count, (part, table)
    assert versions(config) == {s.name: len(s.migrations) for s in stores_of(config)}
    _fill_and_read_bots_and_bridge(config)


def _fill_and_read_bots_and_bridge(config: SchoolConfig) -> None:
    """The bots and the bridge knew only SQLite: on PostgreSQL they start fresh and work."""
    invites = InviteBook(config.component_store_url("bots", "invites.db"))
    invites.add("t", Invite("!r", "Кружок", "@t:s", datetime(2030, 1, 1), False, Audience.ALL))
    assert invites.find("t") is not None
    invites.close()
    used = UsedTokens(config.component_store_url("bridge", "used_tokens.db"), 3600)
    assert used.first_use("s", "token") is True
    assert used.first_use("s", "token") is False
    used.close()
    engine = engine_for(config.component_store_url("bots", "x"))
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"invites", "made_chats", "homework", "handed_in", "meetings", "sync"} <= tables
    engine = engine_for(config.store_url())
    try:
        newest = len(MIGRATIONS)
        assert upgrade(engine, STORE, MIGRATIONS) == (newest, newest)  # nothing left to do
    finally:
        engine.dispose()


V1 = Path(__file__).resolve().parents[1] / "fixtures" / "databases" / "v1"


def test_a_diary_of_the_first_versioned_release_gains_the_tables_added_since(
    tmp_path: Path,
) -> None:
    """tests/fixtures/databases/v1/sqlite/diary.db: the diary store as commit 6a3f664 left it
    (schema version 1). Tables added later come by their own migrations, not by migration 1."""
    place = tmp_path / "diary.db"
    shutil.copy(V1 / "sqlite" / "diary.db", place)
    store = DiaryStore.open(f"sqlite:///{place}")
    try:
        store.add_activation("КОД-ИЗ-ПИСЬМА", SourcedId("fx-p1"), datetime(2027, 1, 1))
        assert store.activation("КОД-ИЗ-ПИСЬМА") is not None
        assert not store.is_extra_slot("extra-0")
        account = store.account(SourcedId("fx-s1"))
        assert account is not None
        assert account.matrix_user_id == "@parta.fx-s1:school.test"
    finally:
        store.close()
    with sqlite3.connect(place) as db:
        assert db.execute("SELECT version FROM parta_schema").fetchone() == (5,)
