"""The same sync with PostgreSQL under both Synapse and the appservice's store."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import sql

from appservice.diary_sync.timetable import Timetable
from appservice.school_sync import SyncOptions
from homeserver.postgres import drop_database
from kernel.config import DatabaseConfig
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from tests.integration.conftest import school_config
from tests.school import small_school

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchoolStack]:
    if not postgres_reachable():
        if os.environ.get("PARTA_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required here (PARTA_REQUIRE_POSTGRES) but unreachable")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    prefix = f"parta_test_{os.getpid()}"
    database = DatabaseConfig(kind="postgres", dsn=ADMIN_DSN, name_prefix=prefix)
    config = school_config(Path(tmp_path_factory.mktemp("pg")), database=database)
    try:
        with SchoolStack.for_config(config) as running:
            yield running
    finally:
        for name in config.db_names:
            drop_database(ADMIN_DSN, name)


async def test_a_school_syncs_on_postgresql_and_a_rerun_writes_nothing(
    pg_stack: SchoolStack,
) -> None:
    assert pg_stack.config.store_url().startswith("postgresql+psycopg://")
    client, store = pg_stack.client(), pg_stack.open_store()
    try:
        assert store.dialect == "postgresql"
        school = pg_stack.school_sync(client, store)
        diary = small_school("pg")
        first = await school.run(diary, SyncOptions(eager=True))
        assert first.report is not None
        assert first.report.done["Join"] > 0
        again = await school.run(diary, SyncOptions(eager=True))
        assert again.actions == []
    finally:
        store.close()
        await client.aclose()


async def test_the_diary_runs_on_postgresql(pg_stack: SchoolStack) -> None:
    assert pg_stack.config.diary_store_url().startswith("postgresql+psycopg://")
    store = pg_stack.open_diary_store()
    try:
        store.load(small_school("pgd"), Timetable())
        store.set_password_hash(SourcedId("pgd-t1"), PasswordHasher().hash("пароль-учителя"))
    finally:
        store.close()
    async with httpx.AsyncClient(base_url=pg_stack.config.diary_url) as http:
        page = await http.get("/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        form = {"csrf": found[1], "login": "pgd-t1", "password": "пароль-учителя"}
        answer = await http.post("/login", data=form)
        assert answer.status_code == 303
        diary = await http.get("/diary")
    assert "Учитель-t1 Анна" in diary.text


async def test_ready_turns_false_while_a_database_or_synapse_is_away_and_true_after(
    pg_stack: SchoolStack,
) -> None:
    """Issue 18.2: each component's ``/ready`` names what it lacks, and recovers by itself."""
    config = pg_stack.config
    ready = {
        "appservice": f"{config.appservice_url}/ready",
        "diary": f"{config.diary_internal_url}/ready",
        "bots": f"{config.bots_url}/ready",
    }

    async def answers() -> dict[str, tuple[int, dict[str, str]]]:
        async with httpx.AsyncClient(timeout=15) as http:
            found = {name: await http.get(url) for name, url in ready.items()}
        return {n: (a.status_code, a.json()["checks"]) for n, a in found.items()}

    assert {n: code for n, (code, _) in (await answers()).items()} == dict.fromkeys(ready, 200)
    away = config.store_db_name  # the appservice's database stops taking connections
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(away))
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (away,)
        )
        try:
            code, checks = (await answers())["appservice"]
            assert code == 503
            assert checks["database"].startswith("недоступна")
        finally:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(away))
            )
    assert (await answers())["appservice"][0] == 200
    assert pg_stack.synapse is not None
    pg_stack.synapse.stop()
    try:
        stopped = await answers()
        for name in ("diary", "bots"):
            code, checks = stopped[name]
            assert code == 503, (name, checks)
            assert checks["homeserver"].startswith("не отвечает"), (name, checks)
    finally:
        pg_stack.synapse.start()
        pg_stack.synapse.wait_ready()
    assert {n: code for n, (code, _) in (await answers()).items()} == dict.fromkeys(ready, 200)
