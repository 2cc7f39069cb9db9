"""Synapse's workers, rendered by parta: two event persisters and a generic worker on Redis.

The main process, the workers and PostgreSQL are all real; Redis is the machine's own.
Events of many rooms must be written by both persisters (Synapse shards the event stream
by room), and the generic worker must answer client reads.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from homeserver.process import SynapseProcess
from homeserver.render import RenderedHomeserver, RenderedWorker, render_homeserver
from homeserver.settings import (
    AppserviceRegistration,
    HomeserverSettings,
    PostgresDatabase,
    SynapseWorkers,
)
from kernel.children import die_with_parent
from kernel.ids import ServerName
from kernel.secrets import ensure_secret_file
from tests.ports import free_port, free_port_block

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
ROOMS = 12


def _settings(state: Path, dbname: str) -> HomeserverSettings:
    server = ServerName(f"localhost:{free_port()}")
    escaped = server.replace(".", "\\.")
    tokens = state.parent / "tokens"
    registration = AppserviceRegistration(
        id="parta",
        url=f"http://127.0.0.1:{free_port()}",
        as_token=ensure_secret_file(tokens / "as_token"),
        hs_token=ensure_secret_file(tokens / "hs_token"),
        sender_localpart="parta",
        user_regex=f"@parta_.*:{escaped}",
        alias_regex=f"#parta_.*:{escaped}",
    )
    return HomeserverSettings(
        server_name=server,
        state_dir=state,
        database=PostgresDatabase(dbname=dbname),
        client_port=free_port(),
        appservices=(registration,),
        workers=SynapseWorkers(
            event_persisters=2, generic_workers=1, first_port=free_port_block(4)
        ),
        for_tests=True,
    )


def _start(rendered: RenderedHomeserver, worker: RenderedWorker) -> subprocess.Popen[bytes]:
    log = (rendered.layout.root / f"{worker.name}.console.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synapse.app.generic_worker",
            "-c",
            str(rendered.config_path),
            "-c",
            str(worker.config_path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )


def _wait_healthy(worker: RenderedWorker, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{worker.name} exited"
        try:
            if httpx.get(f"http://127.0.0.1:{worker.port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling a starting process, bounded by the deadline
    raise AssertionError(f"{worker.name} did not become healthy")


def test_two_persisters_share_the_event_stream_and_a_worker_serves_reads(
    tmp_path: Path, postgres_dbname: str
) -> None:
    dbname = postgres_dbname
    settings = _settings(tmp_path / "state", dbname)
    rendered = render_homeserver(settings)
    assert [w.name for w in rendered.workers] == ["persister1", "persister2", "generic1"]
    token = settings.appservices[0].as_token
    auth = {"Authorization": f"Bearer {token}"}
    processes: list[subprocess.Popen[bytes]] = []
    with SynapseProcess(rendered, ready_timeout=90) as synapse:
        try:
            for worker in rendered.workers:
                processes.append(_start(rendered, worker))
            for worker, process in zip(rendered.workers, processes, strict=True):
                _wait_healthy(worker, process)
            with httpx.Client(base_url=synapse.rendered.client_url, headers=auth, timeout=30) as hs:
                rooms = [
                    hs.post("/_matrix/client/v3/createRoom", json={"name": f"Класс {i}"})
                    for i in range(ROOMS)
                ]
                assert all(r.status_code == 200 for r in rooms), [r.text for r in rooms]
                ids = [r.json()["room_id"] for r in rooms]
                for i, room in enumerate(ids):
                    sent = hs.put(
                        f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t{i}",
                        json={"msgtype": "m.text", "body": "Здравствуйте!"},
                    )
                    assert sent.status_code == 200, sent.text
            generic = rendered.workers[2]
            read = httpx.get(
                f"http://127.0.0.1:{generic.port}/_matrix/client/v3/joined_rooms",
                headers=auth,
                timeout=30,
            )
            assert read.status_code == 200, read.text
            assert set(ids) <= set(read.json()["joined_rooms"])
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
    with psycopg.connect(f"{ADMIN_DSN.replace('dbname=postgres', '')} dbname={dbname}") as db:
        writers = {row[0] for row in db.execute("SELECT DISTINCT instance_name FROM events")}
    assert {"persister1", "persister2"} <= writers
