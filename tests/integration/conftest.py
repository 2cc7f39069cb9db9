"""One real Synapse + appservice for the whole test session (SQLite)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nio
import psycopg
import pytest
from playwright.async_api import Browser, Page, async_playwright

from appservice.school_sync import SchoolSync
from appservice.store import Store
from homeserver.postgres import drop_database, ensure_database
from kernel.config import (
    AppserviceConfig,
    BotsConfig,
    CallBridgeConfig,
    DiaryConfig,
    HomeserverConfig,
    MetricsConfig,
    SchoolConfig,
)
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack
from tests.browser import SCREENSHOTS, launch
from tests.ports import free_port, free_port_block

POSTGRES_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def require_postgres() -> None:
    """Fail where CI demands PostgreSQL (PARTA_REQUIRE_POSTGRES), else skip visibly."""
    try:
        psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        if os.environ.get("PARTA_REQUIRE_POSTGRES"):
            pytest.fail(f"PARTA_REQUIRE_POSTGRES is set but PostgreSQL is unreachable: {e}")
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432: {e}")


@pytest.fixture
def postgres_dbname() -> Iterator[str]:
    """A fresh C-collated database for one test, dropped afterwards."""
    require_postgres()
    name = f"parta_test_{uuid.uuid4().hex[:12]}"
    ensure_database(POSTGRES_ADMIN_DSN, name)
    yield name
    drop_database(POSTGRES_ADMIN_DSN, name)


def school_config(state: Path, **overrides: object) -> SchoolConfig:
    port = free_port()
    return SchoolConfig.model_validate(
        {
            "server_name": f"localhost:{port}",
            "state_dir": state,
            "homeserver": HomeserverConfig(client_port=port),
            "appservice": AppserviceConfig(port=free_port()),
            "diary": DiaryConfig(port=free_port()),
            "call_bridge": CallBridgeConfig(port=free_port_block(3), workers=2),
            "bots": BotsConfig(port=free_port(), poll_seconds=0.5),
            "metrics": MetricsConfig(enabled=True, first_port=free_port_block(7)),
            "for_tests": True,
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchoolStack]:
    config = school_config(tmp_path_factory.mktemp("school"))
    with SchoolStack.for_config(config) as running:
        yield running


@pytest.fixture(scope="session")
async def client(stack: SchoolStack) -> AsyncIterator[MatrixClient]:
    matrix = stack.client()
    yield matrix
    await matrix.aclose()


@pytest.fixture(scope="session")
def store(stack: SchoolStack) -> Iterator[Store]:
    opened = stack.open_store()
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def school(stack: SchoolStack, client: MatrixClient, store: Store) -> SchoolSync:
    return stack.school_sync(client, store)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await launch(playwright)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="ru-RU")
    opened = await context.new_page()
    yield opened
    await context.close()


@pytest.fixture
async def http(stack: SchoolStack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the session's homeserver (client-server API paths)."""
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url, timeout=30) as opened:
        yield opened


async def nio_client(stack: SchoolStack, user: str) -> nio.AsyncClient:
    """A matrix-nio client for one of the school's accounts: a new device of that account,
    logged in through the appservice. The caller closes it."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{stack.config.homeserver_url}/_matrix/client/v3/login",
            headers={"Authorization": f"Bearer {stack.config.as_token_file.read_text().strip()}"},
            json={
                "type": "m.login.application_service",
                "identifier": {"type": "m.id.user", "user": user},
            },
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    client = nio.AsyncClient(stack.config.homeserver_url, user)
    client.restore_login(user, body["device_id"], body["access_token"])
    return client
