"""Real Synapse processes started from rendered configuration, on free ports.

One SQLite homeserver serves the module; PostgreSQL, federation and a failing start each
pay for their own processes, and only once.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from homeserver.errors import SynapseExited
from homeserver.postgres import ensure_database
from homeserver.process import SynapseProcess
from homeserver.render import RenderedHomeserver, render_homeserver
from homeserver.settings import (
    AppserviceRegistration,
    HomeserverSettings,
    ModuleSpec,
    PostgresDatabase,
    SqliteDatabase,
)
from kernel.ids import ServerName
from kernel.secrets import ensure_secret_file
from tests.ports import free_port  # other agents share this machine: never a fixed port

pytestmark = pytest.mark.integration

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
READY_TIMEOUT = 90.0


def _appservice(server: ServerName, secrets_dir: Path) -> AppserviceRegistration:
    escaped = server.replace(".", "\\.")
    return AppserviceRegistration(
        id="parta",
        url=f"http://127.0.0.1:{free_port()}",  # nobody listens: Synapse tolerates it
        as_token=ensure_secret_file(secrets_dir / "as_token"),
        hs_token=ensure_secret_file(secrets_dir / "hs_token"),
        sender_localpart="parta",
        user_regex=f"@parta_.*:{escaped}",
        alias_regex=f"#parta_.*:{escaped}",
    )


def _settings(
    state_dir: Path,
    database: SqliteDatabase | PostgresDatabase | None = None,
    modules: tuple[ModuleSpec, ...] = (),
) -> HomeserverSettings:
    server = ServerName(f"localhost:{free_port()}")
    return HomeserverSettings(
        server_name=server,
        state_dir=state_dir,
        database=database or SqliteDatabase(path=state_dir / "homeserver.db"),
        client_port=free_port(),
        appservices=(_appservice(server, state_dir.parent / f"{state_dir.name}-tokens"),),
        modules=modules,
        for_tests=True,
    )


def _register(rendered: RenderedHomeserver, as_token: str, localpart: str) -> httpx.Response:
    return httpx.post(
        f"{rendered.client_url}/_matrix/client/v3/register",
        json={"type": "m.login.application_service", "username": localpart, "inhibit_login": True},
        headers={"Authorization": f"Bearer {as_token}"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def sqlite_homeserver(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SynapseProcess, HomeserverSettings]]:
    settings = _settings(tmp_path_factory.mktemp("hs") / "state")
    with SynapseProcess(render_homeserver(settings), ready_timeout=READY_TIMEOUT) as synapse:
        yield synapse, settings


def test_a_started_synapse_reports_healthy_and_lists_versions(
    sqlite_homeserver: tuple[SynapseProcess, HomeserverSettings],
) -> None:
    synapse, _ = sqlite_homeserver
    base = synapse.rendered.client_url

    assert httpx.get(f"{base}/health").status_code == 200
    versions = httpx.get(f"{base}/_matrix/client/versions")
    assert versions.status_code == 200
    assert "v1.11" in versions.json()["versions"]


def test_the_appservice_registers_a_user_in_its_namespace(
    sqlite_homeserver: tuple[SynapseProcess, HomeserverSettings],
) -> None:
    synapse, settings = sqlite_homeserver
    response = _register(synapse.rendered, settings.appservices[0].as_token, "parta_alice")

    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == f"@parta_alice:{settings.server_name}"


def test_the_appservice_cannot_register_outside_its_namespace(
    sqlite_homeserver: tuple[SynapseProcess, HomeserverSettings],
) -> None:
    synapse, settings = sqlite_homeserver
    response = _register(synapse.rendered, settings.appservices[0].as_token, "mallory")

    assert response.status_code == 400
    assert response.json()["errcode"] == "M_EXCLUSIVE"


def test_a_synapse_that_exits_on_start_is_reported_with_its_log(tmp_path: Path) -> None:
    module = ModuleSpec(module="parta_no_such_module.Gate")
    synapse = SynapseProcess(render_homeserver(_settings(tmp_path / "state", modules=(module,))))
    synapse.start()
    try:
        with pytest.raises(SynapseExited, match="parta_no_such_module") as raised:
            synapse.wait_ready(READY_TIMEOUT)
    finally:
        synapse.stop()
    assert raised.value.returncode != 0


@pytest.mark.postgres
def test_a_postgresql_backed_synapse_starts_and_registers(
    tmp_path: Path, postgres_dbname: str
) -> None:
    ensure_database(ADMIN_DSN, postgres_dbname)  # a second call is a no-op
    settings = _settings(tmp_path / "state", PostgresDatabase(dbname=postgres_dbname))
    with SynapseProcess(render_homeserver(settings), ready_timeout=READY_TIMEOUT) as synapse:
        response = _register(synapse.rendered, settings.appservices[0].as_token, "parta_bob")

    assert response.status_code == 200, response.text
    bob = f"@parta_bob:{settings.server_name}"
    with psycopg.connect(f"{ADMIN_DSN} dbname={postgres_dbname}") as connection:
        stored = connection.execute("SELECT name FROM users WHERE name = %s", (bob,)).fetchall()
    assert stored == [(bob,)]  # in PostgreSQL, not in some SQLite file


def _federating(state_dir: Path, port: int, peer: ServerName) -> HomeserverSettings:
    """Named ``localhost:<federation port>`` so Synapse skips .well-known and SRV lookups."""
    server = ServerName(f"localhost:{port}")
    return HomeserverSettings(
        server_name=server,
        state_dir=state_dir,
        database=SqliteDatabase(path=state_dir / "homeserver.db"),
        client_port=free_port(),
        federation_port=port,
        federation_allowlist=(peer,),
        appservices=(_appservice(server, state_dir.parent / f"{state_dir.name}-tokens"),),
        for_tests=True,
    )


def _federation_version(rendered: RenderedHomeserver) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(rendered.layout.tls_certificate))
    return httpx.get(f"{rendered.federation_url}/_matrix/federation/v1/version", verify=context)


def test_two_homeservers_on_one_machine_federate(tmp_path: Path) -> None:
    ports = (free_port(), free_port())
    first = _federating(tmp_path / "hs0", ports[0], ServerName(f"localhost:{ports[1]}"))
    second = _federating(tmp_path / "hs1", ports[1], first.server_name)
    processes = [SynapseProcess(render_homeserver(s)) for s in (first, second)]
    for synapse in processes:  # start both before waiting: they boot in parallel
        synapse.start()
    try:
        for synapse in processes:
            synapse.wait_ready(READY_TIMEOUT)
        versions = [_federation_version(synapse.rendered) for synapse in processes]
        carol = _register(processes[1].rendered, second.appservices[0].as_token, "parta_carol")
        profile = httpx.get(  # asked of the first server, answered by the second
            f"{processes[0].rendered.client_url}/_matrix/client/v3/profile/"
            f"@parta_carol:{second.server_name}",
            headers={"Authorization": f"Bearer {first.appservices[0].as_token}"},
            timeout=30,
        )
    finally:
        for synapse in processes:
            synapse.stop()
    assert [v.json()["server"]["name"] for v in versions] == ["Synapse", "Synapse"]
    assert carol.status_code == 200, carol.text
    assert profile.status_code == 200, profile.text
    assert profile.json()["displayname"] == "parta_carol"
