"""A school's running stack: Synapse and the appservice as child processes.

The composition root for ``parta run``, ``parta demo``, the benchmarks and the
integration tests: render the homeserver's files from the school config, start
the appservice (Synapse calls it, and the school policy module asks it who may
join), then Synapse, each with a real readiness check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
import yaml

from appservice.region_sync import RegionSync
from appservice.school_sync import PUPPET_PREFIX, SchoolSync, school_sync_for
from appservice.store import Store
from homeserver.postgres import drop_database, ensure_database
from homeserver.process import SynapseProcess
from homeserver.render import RenderedHomeserver, render_homeserver
from homeserver.settings import (
    AppserviceRegistration,
    HomeserverSettings,
    ModuleSpec,
    OidcProvider,
    PostgresDatabase,
    SqliteDatabase,
    SynapseWorkers,
)
from kernel.children import die_with_parent
from kernel.config import OIDC_CLIENT_ID, OIDC_IDP_ID, SchoolConfig
from kernel.ids import ServerName, UserID, user_id
from kernel.matrix import MatrixClient
from kernel.matrix.admin import SynapseAdmin, admin_token
from kernel.secrets import ensure_secret_file
from parta.stores import upgrade_all
from web_client.store import DiaryStore


class StackError(Exception):
    """A component of the stack did not start."""


def homeserver_settings(config: SchoolConfig, with_diary: bool = True) -> HomeserverSettings:
    server = ServerName(config.server_name)
    state = config.state_dir.resolve()
    registration = AppserviceRegistration(
        id=config.appservice.id,
        url=config.appservice_url,
        as_token=ensure_secret_file(config.as_token_file),
        hs_token=ensure_secret_file(config.hs_token_file),
        sender_localpart=config.appservice.bot_localpart,
        user_regex=f"@{re.escape(PUPPET_PREFIX)}.*:{re.escape(server)}",
        alias_regex=f"#{re.escape(PUPPET_PREFIX)}.*:{re.escape(server)}",
    )
    policy = ModuleSpec(
        module="homeserver.policy.SchoolPolicy",
        config={
            "appservice_url": config.appservice_url,
            "token_file": str(config.hs_token_file.resolve()),
        },
    )
    modules = [policy]
    sso = None
    if with_diary:
        modules.append(
            ModuleSpec(
                module="homeserver.diary_password.DiaryPassword",
                config={
                    "diary_url": config.diary_internal_url,
                    "token_file": str(config.password_check_token_file.resolve()),
                },
            )
        )
        ensure_secret_file(config.password_check_token_file)
        ensure_secret_file(config.oidc_client_secret_file)
        sso = OidcProvider(
            idp_id=OIDC_IDP_ID,
            idp_name="Электронный дневник",
            issuer=config.diary_url,
            client_id=OIDC_CLIENT_ID,
            client_secret_path=config.oidc_client_secret_file.resolve(),
            skip_verification=config.diary_url.startswith("http://"),
        )
    database: SqliteDatabase | PostgresDatabase
    if config.database.kind == "sqlite":
        database = SqliteDatabase(path=state / "homeserver" / "homeserver.db")
    else:
        url = httpx.URL(config.database.dsn)
        database = PostgresDatabase(
            dbname=config.synapse_db_name,
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
        )
    return HomeserverSettings(
        server_name=server,
        state_dir=state / "homeserver",
        database=database,
        bind_host=config.homeserver.bind_host,
        client_port=config.homeserver.client_port,
        federation_port=config.homeserver.federation_port,
        behind_proxy=config.homeserver.behind_proxy,
        workers=SynapseWorkers(**config.homeserver.workers.model_dump())
        if config.homeserver.workers.event_persisters or config.homeserver.workers.generic_workers
        else None,
        federation_allowlist=_allowlist(config),
        appservices=(registration,),
        modules=tuple(modules),
        sso=sso,
        sso_clients=config.sso_clients if with_diary else (),
        public_baseurl=config.homeserver_public_url + "/",
        for_tests=config.for_tests,
        default_retention_days=config.retention.personal_days,
        gc_min_interval=config.homeserver.gc_min_interval,
        cache_factor=config.homeserver.cache_factor,
        metrics=(config.metrics.bind_host, config.metrics.port("synapse"))
        if config.metrics.enabled
        else None,
    )


def _allowlist(config: SchoolConfig) -> tuple[ServerName, ...]:
    """As configured; in a region, by default the region's other schools."""
    listed = config.homeserver.federation_allowlist
    if not listed and config.region is not None:
        listed = tuple(s for s in config.region.schools if s != config.server_name)
    return tuple(ServerName(s) for s in listed)


def drop_databases(config: SchoolConfig) -> None:
    """A benchmark's or a test's school gone from PostgreSQL (nothing to do on SQLite)."""
    if config.database.kind == "postgres":
        for name in config.db_names:
            drop_database(config.database.dsn, name)


@dataclass
class SchoolStack:
    config: SchoolConfig
    config_path: Path
    """The config file the appservice process reads (the user's own, or one we wrote)."""
    rendered: RenderedHomeserver | None = None
    synapse: SynapseProcess | None = None
    appservice: subprocess.Popen[bytes] | None = None
    diary: subprocess.Popen[bytes] | None = None
    bridge: subprocess.Popen[bytes] | None = None
    bots: subprocess.Popen[bytes] | None = None
    with_diary: bool = True
    _logs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def for_config(cls, config: SchoolConfig, *, with_diary: bool = True) -> SchoolStack:
        """Write ``config`` into its state folder for the child processes to read."""
        config.state_dir.mkdir(parents=True, exist_ok=True)
        path = config.state_dir / "parta.yaml"
        path.write_text(
            yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
        )
        return cls(config, path, with_diary=with_diary)

    @property
    def bot(self) -> UserID:
        return user_id(self.config.appservice.bot_localpart, ServerName(self.config.server_name))

    def start(self) -> None:
        if self.config.database.kind == "postgres":
            for name in self.config.db_names:
                ensure_database(self.config.database.dsn, name)
        self.rendered = render_homeserver(homeserver_settings(self.config, self.with_diary))
        upgrade_all(self.config)  # every store's schema before any process reads it
        self._start_appservice()
        if self.with_diary:
            self.start_diary()  # before Synapse: it reads the diary's OpenID metadata at start
        self.synapse = SynapseProcess(self.rendered)
        self.synapse.start()
        self.synapse.wait_ready()
        if self.with_diary and self.config.call_bridge.enabled:
            self.start_bridge()
        if self.with_diary and self.config.bots.enabled:
            self.start_bots()

    def start_bots(self) -> None:
        url = f"http://{self.config.bots.bind_host}:{self.config.bots.port}/health"
        self.bots = self._start_child("bots", url, post=False)

    def stop_bots(self) -> None:
        _stop(self.bots)
        self.bots = None

    def stop_bridge(self) -> None:
        _stop(self.bridge)
        self.bridge = None

    def reconfigure_bridge(self, config: SchoolConfig) -> None:
        """Restart the call bridge with ``config`` (written where the children read theirs)."""
        self.stop_bridge()
        self.config = config
        self.config_path.write_text(
            yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
        )
        self.start_bridge()

    def start_bridge(self) -> None:
        """The call bridge: ready once its front sees every worker of its pool."""
        url = f"http://{self.config.call_bridge.bind_host}:{self.config.call_bridge.port}/health"
        self.bridge = self._start_child("call_bridge", url, post=False)
        want = list(range(self.config.call_bridge.workers))
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=5.0) as http:
            while time.monotonic() < deadline:
                if self.bridge.poll() is not None:
                    break
                if http.get(url).json().get("workers") == want:
                    return
                time.sleep(0.1)  # polling for readiness, bounded by the deadline
        raise StackError(f"the call bridge's workers did not start; see {self.config.state_dir}")

    def _start_appservice(self) -> None:
        self.appservice = self._start_child(
            "appservice", f"{self.config.appservice_url}/_matrix/app/v1/ping", post=True
        )

    def start_diary(self) -> None:
        url = f"http://{self.config.diary.bind_host}:{self.config.diary.port}/health"
        self.diary = self._start_child("web_client", url, post=False)

    def _start_child(
        self, module: str, probe: str, *, post: bool, timeout: float = 30.0
    ) -> subprocess.Popen[bytes]:
        """``python -m module -c config``, ready once ``probe`` answers at all."""
        for shared in (
            self.config.link_token_file,
            self.config.password_check_token_file,
            self.config.diary_api_token_file,
            self.config.bots_token_file,
            self.config.invite_token_file,
            self.config.bridge_token_file,
        ):
            ensure_secret_file(shared)  # made here, once, before either reader starts
        log_path = self.config.state_dir / f"{module}.log"
        log = log_path.open("ab")
        self._logs.append(log)
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module, "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if child.poll() is not None:
                    raise StackError(f"{module} exited; see {log_path}")
                try:
                    http.request("POST" if post else "GET", probe)
                    return child
                except httpx.TransportError:
                    time.sleep(0.05)  # polling for readiness, bounded by the deadline
        child.kill()
        raise StackError(f"{module} did not answer within {timeout:.0f}s; see {log_path}")

    def stop_appservice(self) -> None:
        _stop(self.appservice)
        self.appservice = None

    def restart_appservice(self) -> None:
        self.stop_appservice()
        self._start_appservice()

    def stop(self) -> None:
        if self.synapse is not None:
            self.synapse.stop()
        self.stop_bots()
        self.stop_bridge()
        _stop(self.diary)
        self.diary = None
        self.stop_appservice()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def open_diary_store(self) -> DiaryStore:
        return DiaryStore.open(self.config.diary_store_url())

    def open_store(self) -> Store:
        return Store.open(self.config.store_url(), now_ms=lambda: int(time.time() * 1000))

    def client(self, outage_s: float = 0.0) -> MatrixClient:
        """The appservice's client; ``outage_s``: how long a silent homeserver is waited for
        (a sync rides out a restart)."""
        token = ensure_secret_file(self.config.as_token_file)
        return MatrixClient(self.config.homeserver_url, token, outage_s=outage_s)

    def school_sync(
        self, client: MatrixClient, store: Store, admin: SynapseAdmin | None = None
    ) -> SchoolSync:
        return school_sync_for(self.config, client, store, admin)

    @property
    def homeserver_config_path(self) -> Path:
        return self.config.state_dir / "homeserver" / "homeserver.yaml"

    async def admin(self) -> SynapseAdmin:
        """The homeserver's admin API (the caller closes ``.client``)."""
        url = self.config.homeserver_url
        return SynapseAdmin(MatrixClient(url, await admin_token(url, self.config.admin_files)))

    def region_sync(self, client: MatrixClient, store: Store) -> RegionSync | None:
        if self.config.region is None:
            return None
        server = ServerName(self.config.server_name)
        return RegionSync(client, store, server, self.bot, self.config.region)


def _stop(child: subprocess.Popen[bytes] | None) -> None:
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
