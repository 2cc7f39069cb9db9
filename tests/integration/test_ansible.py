"""The `school` inventory applied to this machine, into a throwaway prefix, for real.

The playbook installs parta from a freshly built wheel into a new virtualenv, makes the
PostgreSQL role and databases, Debian's nginx and coturn, the users and the supervisord
programs (CI has no systemd). Then the test starts supervisord from the files the playbook
wrote, and checks through nginx that the homeserver answers, that a school syncs, and that
the appservice receives Synapse's transactions. A second run must change nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pyrage
import pytest
import websockets
import yaml
from psycopg import sql
from pyrage import x25519

from tests.integration.conftest import require_postgres
from tests.ports import free_port_block

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
BIN = Path(sys.executable).parent
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER = "school.test"
BACKUP_KEY = x25519.Identity.generate()
"""The operator's key pair for the nightly backups: the host gets the public half."""


def _playbook(extra_vars: Path) -> str:
    """Run the playbook as an operator would (here: on this machine); its output."""
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "inventories/school/hosts.yml",
            "site.yml",
            "--connection=local",
            "-e",
            f"@{extra_vars}",
        ],
        cwd=ANSIBLE,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result.stdout


def _changed(output: str) -> int:
    recap = re.search(r"PLAY RECAP \*+\n(.*)", output, re.S)
    assert recap is not None, output[-3000:]
    counts = re.findall(r"changed=(\d+)", recap.group(1))
    assert counts, recap.group(1)
    return sum(int(c) for c in counts)


def _changed_tasks(output: str) -> list[str]:
    """The tasks that reported a change, for the failure message."""
    tasks = re.split(r"\n(?=TASK \[|RUNNING HANDLER \[)", output)
    return [t.splitlines()[0].rstrip("* ") for t in tasks if re.search(r"^changed:", t, re.M)]


def _drop(database_prefix: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as db:
        for suffix in ("synapse", "appservice", "diary", "bots", "bridge"):
            name = sql.Identifier(f"{database_prefix}_{suffix}")
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(database_prefix)))


def _until(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll ``check`` (a callable returning true when ready) until the deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, psycopg.Error) as e:
            last = e
        time.sleep(0.5)  # polling real services for readiness, bounded by the deadline
    raise AssertionError(f"{what} not ready within {timeout:.0f}s (last error: {last!r})")


@dataclass(frozen=True)
class Deployment:
    extra_vars: Path
    ports: dict[str, int]
    prefix: Path
    database: str
    supervisor: Path
    venv: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    if os.geteuid() != 0:
        pytest.skip("the converge creates system users and runs services as them: needs root")
    require_postgres()
    dist = tmp_path / "dist"
    subprocess.run(
        [str(BIN / "pip"), "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(ROOT)],
        cwd=tmp_path,
        check=True,
        timeout=300,
    )
    wheel = next(dist.glob("parta-*.whl"))
    base = 20000 + free_port_block(1) % 11000  # below the ephemeral range (see test_cli)
    ports = {
        name: base + i
        for i, name in enumerate(
            [
                *("public", "synapse", "appservice", "diary", "bots"),
                *("bridge", "w1", "w2", "turn", "replication", "persister", "generic"),
                *("prometheus", "metrics", "m1", "m2", "m3", "m4", "m5", "m6"),
            ]
        )
    }
    # The services' users must reach the prefix: pytest's own folders are root's alone.
    prefix = Path(tempfile.mkdtemp(prefix="parta-converge-", dir="/tmp"))
    prefix.chmod(0o755)
    database = f"parta_cv{secrets.token_hex(3)}"
    extra = {
        "parta_server_name": SERVER,
        "parta_wheel": str(wheel),
        "parta_prefix": str(prefix),
        "parta_python": "/usr/bin/python3",  # Debian's, as on a school's host
        "parta_service_manager": "supervisor",
        "parta_public_port": ports["public"],
        # Synapse reads the diary's OpenID metadata at start: the test has no DNS for
        # dnevnik.school.test, so the diary's own address stands in for its public one.
        "parta_diary_public_url": f"http://127.0.0.1:{ports['diary']}",
        "parta_database_user": database,
        "parta_database_prefix": database,
        "postgresql_install": False,
        "postgresql_manage_service": False,
        "postgresql_admin_become": False,
        "postgresql_admin_args": ["-h", "127.0.0.1", "-U", "postgres"],
        "synapse_client_port": ports["synapse"],
        # one event persister and one generic worker, on the machine's own Redis
        "synapse_event_persisters": 1,
        "synapse_generic_workers": 1,
        "synapse_workers_first_port": ports["replication"],
        "synapse_redis_install": False,
        # Synapse's tuning, as an operator sets it (README, «A school's day»)
        "synapse_gc_min_interval": ["1s", "60s", "10m"],
        "synapse_cache_factor": 2.0,
        "parta_appservice_port": ports["appservice"],
        "parta_web_client_port": ports["diary"],
        "parta_bots_port": ports["bots"],
        "parta_bots_poll_seconds": 2,
        "parta_call_bridge_port": ports["bridge"],
        "coturn_listening_port": ports["turn"],
        "coturn_listening_ip": "127.0.0.1",
        "coturn_min_port": 40000,
        "coturn_max_port": 40100,
        "nginx_listen_address": "127.0.0.1",
        # nightly backups to the operator's public key (the secret half stays with the test)
        "parta_backup_recipients": [str(BACKUP_KEY.to_public())],
        # every component's metrics, scraped by the monitoring role's Prometheus
        "parta_metrics_first_port": ports["metrics"],
        "monitoring_enabled": True,
        "monitoring_port": ports["prometheus"],
        "monitoring_scrape_interval": "2s",
        # outside the prefix's etc/ and var/, which the parta role makes its group's alone
        # (a school's host has /etc/prometheus and /var/lib/prometheus of Debian's package)
        "monitoring_config_dir": str(prefix / "prometheus" / "etc"),
        "monitoring_storage_dir": str(prefix / "prometheus" / "data"),
    }
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps(extra), encoding="utf-8")
    (tmp_path / "changed.json").write_text(
        json.dumps({**extra, "parta_bots_poll_seconds": 3}), encoding="utf-8"
    )
    supervisor = prefix / "etc" / "parta" / "supervisord.conf"
    venv = prefix / "opt" / "parta" / "venv" / "bin"
    try:
        yield Deployment(extra_vars, ports, prefix, database, supervisor, venv)
    finally:
        if (prefix / "run" / "parta" / "supervisor.sock").exists():
            subprocess.run(
                [str(venv / "supervisorctl"), "-c", str(supervisor), "shutdown"],
                timeout=120,
                check=False,
                capture_output=True,
            )
        _drop(database)
        shutil.rmtree(prefix, ignore_errors=True)


def test_the_school_inventory_converges_serves_and_syncs(
    deployment: Deployment, tmp_path: Path
) -> None:
    extra_vars, ports = deployment.extra_vars, deployment.ports
    prefix, venv = deployment.prefix, deployment.venv

    first = _playbook(extra_vars)
    assert _changed(first) > 0
    second = _playbook(extra_vars)
    assert _changed(second) == 0, _changed_tasks(second)

    subprocess.run(
        [str(venv / "supervisord"), "-c", str(deployment.supervisor)], check=True, timeout=30
    )
    public = f"https://127.0.0.1:{ports['public']}"
    via_nginx = httpx.Client(base_url=public, verify=False, timeout=10.0)  # self-signed  # noqa: S501

    def homeserver_up() -> bool:
        answer = via_nginx.get("/_matrix/client/versions", headers={"Host": SERVER})
        return answer.status_code == 200 and "v1.11" in answer.json()["versions"]

    _until("Synapse through nginx", homeserver_up, timeout=180)
    rendered = yaml.safe_load(
        (prefix / "var" / "lib" / "parta" / "homeserver" / "homeserver.yaml").read_text("utf-8")
    )  # the file Synapse started from
    assert rendered["gc_min_interval"] == ["1s", "60s", "10m"]
    assert rendered["caches"]["global_factor"] == 2.0
    well_known = via_nginx.get("/.well-known/matrix/server", headers={"Host": SERVER}).json()
    assert well_known == {"m.server": f"{SERVER}:{ports['public']}"}
    diary = via_nginx.get("/health", headers={"Host": f"dnevnik.{SERVER}"})
    assert diary.status_code == 200
    bundle = via_nginx.get("/static/messenger.js", headers={"Host": f"dnevnik.{SERVER}"})
    assert bundle.status_code == 200  # the messenger in «Чаты» travels in the wheel
    assert "javascript" in bundle.headers["content-type"]
    _until(
        "the call bridge through nginx",
        lambda: via_nginx.get("/health", headers={"Host": f"call.{SERVER}"}).status_code == 200,
    )
    _no_secret_in_the_access_log(via_nginx, prefix)
    _prometheus_scrapes_every_component(ports["prometheus"], prefix)
    for worker in range(2):  # the WebSocket the front hands out reaches that worker
        closed = asyncio.run(_worker_close(ports["public"], worker))
        assert closed == (1003, "binary frames are not accepted"), (worker, closed)

    state = prefix / "var" / "lib" / "parta"
    config = prefix / "etc" / "parta" / "parta.yaml"
    env = {**os.environ, "PGPASSFILE": str(state / "postgresql" / "pgpass")}
    roster = tmp_path / "roster"
    subprocess.run(
        [str(venv / "parta"), "school", "generate", "--students", "20", "--out", str(roster)],
        check=True,
        timeout=60,
    )
    synced = subprocess.run(
        [str(venv / "parta"), "sync", str(roster), "-c", str(config), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert synced.returncode == 0, synced.stdout[-3000:] + synced.stderr[-3000:]
    assert json.loads(synced.stdout)["actions"]["CreateRoom"] > 5

    token = (state / "secrets" / "as_token").read_text(encoding="utf-8").strip()
    rooms = via_nginx.get(
        "/_matrix/client/v3/joined_rooms",
        headers={"Host": SERVER, "Authorization": f"Bearer {token}"},
    )
    assert rooms.status_code == 200
    assert len(rooms.json()["joined_rooms"]) > 5

    store = f"postgresql://postgres@127.0.0.1:5432/{deployment.database}_appservice"

    def transactions_received() -> bool:
        with psycopg.connect(store) as db:
            row = db.execute("SELECT count(*) FROM events").fetchone()
        return row is not None and row[0] > 0

    _until("the appservice's first transaction", transactions_received)
    synapse_db = f"postgresql://postgres@127.0.0.1:5432/{deployment.database}_synapse"
    with psycopg.connect(synapse_db) as db:
        writers = {row[0] for row in db.execute("SELECT DISTINCT instance_name FROM events")}
    assert writers == {"persister1"}  # the worker persists, not the main process

    # One variable of one component: that component's file and that service, nothing else.
    before = _pids(deployment)
    third = _playbook(tmp_path / "changed.json")
    changed = _changed_tasks(third)
    assert changed[0] == "TASK [parta_bots : Write the bots' settings]", changed
    assert len(changed) == 2, changed
    assert changed[1].endswith("Restart with supervisord: parta-bots]"), changed
    after = _pids(deployment)
    assert {name for name in before if before[name] != after.get(name)} == {"parta-bots"}
    _the_nightly_backup_runs(prefix, tmp_path)


def _prometheus_scrapes_every_component(port: int, prefix: Path) -> None:
    """The monitoring role's Prometheus: every target of the school up, the alerts loaded."""
    prometheus = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
    expected = {"synapse", "appservice", "diary", "bots", "call_bridge", "call_bridge_worker"}
    seen: list[dict[str, object]] = []

    def all_up() -> bool:
        answer = prometheus.get("/api/v1/targets", params={"state": "active"}).json()
        seen[:] = answer["data"]["activeTargets"]
        return len(seen) == 7 and all(t["health"] == "up" for t in seen)

    try:
        _until("Prometheus: every component up", all_up, timeout=120)
    except AssertionError as e:
        log = prefix / "var" / "log" / "parta" / "prometheus.log"
        tail = log.read_text(encoding="utf-8")[-3000:] if log.exists() else "(no log)"
        targets = [(t["labels"], t["health"], t.get("lastError")) for t in seen]
        supervisor = subprocess.run(
            [
                str(prefix / "opt" / "parta" / "venv" / "bin" / "supervisorctl"),
                "-c",
                str(prefix / "etc" / "parta" / "supervisord.conf"),
                "status",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout
        raise AssertionError(f"{e}: {targets}\n{supervisor}\n{tail}") from e
    components = {t["labels"]["component"] for t in seen}  # type: ignore[index]
    assert components == expected
    assert {t["labels"]["school"] for t in seen} == {SERVER}  # type: ignore[index]
    rules = prometheus.get("/api/v1/rules").json()["data"]["groups"]
    alerts = {r["name"] for g in rules for r in g["rules"]}
    assert {"PartaComponentDown", "PartaDiskFull", "PartaCertificateExpiring"} <= alerts
    # the appservice's own figures reach it: the state folder's disk, the certificates
    disk = prometheus.get(
        "/api/v1/query", params={"query": "parta_appservice_state_disk_used_ratio"}
    )
    assert disk.json()["data"]["result"], disk.text


def _the_nightly_backup_runs(prefix: Path, tmp_path: Path) -> None:
    """What the schedule runs, run now: one encrypted file with every database in it."""
    entry = (prefix / "etc" / "cron.d" / "parta-backup").read_text(encoding="utf-8")
    line = next(x for x in entry.splitlines() if x and not x.startswith(("#", "SHELL")))
    fields = line.split()
    assert fields[:5] == ["30", "2", "*", "*", "*"]
    assert fields[5] == "root"
    env_name, _, env_value = fields[6].partition("=")
    done = subprocess.run(
        fields[7:],
        env={**os.environ, env_name: env_value},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (archive,) = (prefix / "var" / "backups" / "parta").glob("*.tar.age")
    plain = tmp_path / "backup.tar"
    pyrage.decrypt_file(str(archive), str(plain), [BACKUP_KEY])
    with tarfile.open(plain) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["server_name"] == SERVER
    assert {f"postgres/{r}.dump" for r in ("synapse", "appservice", "diary", "bots")} <= names
    assert "state/homeserver/signing.key" in names


async def _worker_close(public_port: int, worker: int) -> tuple[int, str] | None:
    """A binary frame through nginx to ``/w/<worker>/ws``: only a worker closes it with 1003."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # self-signed
    url = f"wss://call.{SERVER}:{public_port}/w/{worker}/ws"
    async with websockets.connect(url, host="127.0.0.1", port=public_port, ssl=tls) as ws:
        await ws.send(b"\x00")
        try:
            await asyncio.wait_for(ws.recv(), 20)
        except websockets.ConnectionClosed as e:
            return (e.rcvd.code, e.rcvd.reason) if e.rcvd else None
    return None


def _pids(deployment: Deployment) -> dict[str, str]:
    status = subprocess.run(
        [str(deployment.venv / "supervisorctl"), "-c", str(deployment.supervisor), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = dict(re.findall(r"^(\S+)\s+RUNNING\s+pid (\d+)", status.stdout, re.M))
    assert len(found) == 10, status.stdout  # every program runs, Prometheus included
    return found


def _no_secret_in_the_access_log(via_nginx: httpx.Client, prefix: Path) -> None:
    """A reset link, an access letter's code, a token in a query: nginx logs the visit, not them."""
    secret = secrets.token_urlsafe(16)
    visits = [
        (f"dnevnik.{SERVER}", f"/reset/{secret}"),
        (f"dnevnik.{SERVER}", f"/activate/{secret}"),
        (f"dnevnik.{SERVER}", f"/oidc/authorize?state={secret}"),
        (SERVER, f"/_matrix/client/versions?access_token={secret}"),
        (f"call.{SERVER}", f"/health?token={secret}"),
    ]
    for host, path in visits:
        via_nginx.get(path, headers={"Host": host, "Referer": f"https://x/reset/{secret}"})
    log = (prefix / "var" / "log" / "parta" / "nginx-access.log").read_text(encoding="utf-8")
    assert secret not in log
    for line in ("GET /reset/...", "GET /activate/...", "GET /_matrix/client/versions?..."):
        assert line in log, log[-2000:]
