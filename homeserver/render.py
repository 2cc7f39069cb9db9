"""Turn :class:`HomeserverSettings` into the files Synapse reads, idempotently.

::

    settings ──► homeserver_context() ──► homeserver.yaml.j2 ──► state_dir/homeserver.yaml
       │                                  log.yaml.j2          ──► state_dir/log.yaml
       │                                  registration.yaml.j2 ──► state_dir/appservices/<id>.yaml
       └──► secrets/*.secret, signing.key, tls/* (created once, never replaced)

Secrets and keys are referenced by path (Synapse's ``*_path`` options) and created only if
missing, so a re-render changes no token and no key, and the same settings always give the
same bytes. Every value reaches YAML through the ``tojson`` filter: JSON is YAML, so no
string from the settings can break the document's structure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from homeserver.errors import RenderError
from homeserver.keys import ensure_signing_key, ensure_tls_certificate, write_private
from homeserver.settings import (
    AppserviceRegistration,
    HomeserverSettings,
    PostgresDatabase,
    SqliteDatabase,
    SynapseWorkers,
)
from kernel.ids import ServerName
from kernel.secrets import ensure_secret_file, read_secret_file

logger = logging.getLogger(__name__)

_TEMPLATES = Path(__file__).parent / "templates"
SYNAPSE_PAGES = Path(__file__).parent / "sso_templates"
"""Our own versions of the pages Synapse shows in a browser (single sign-on): Russian, and no
images fetched from matrix.org or element.io (Synapse's own ``_base.html`` does that)."""
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - not a bind
_LOG_MAX_BYTES = 50 * 1024 * 1024
_LOG_BACKUPS = 3
_UNLIMITED = {"per_second": 100_000, "burst_count": 100_000}

# Generous for a school: a whole class logs in from one NAT'd address, a teacher invites
# a class at once. Login failures stay limited: they are what brute force looks like.
SCHOOL_RATE_LIMITS: Mapping[str, object] = {
    "rc_message": {"per_second": 10, "burst_count": 50},
    "rc_registration": {"per_second": 1, "burst_count": 30},
    "rc_login": {
        "address": {"per_second": 5, "burst_count": 100},
        "account": {"per_second": 0.5, "burst_count": 20},
        "failed_attempts": {"per_second": 0.1, "burst_count": 10},
    },
    "rc_joins": {
        "local": {"per_second": 5, "burst_count": 50},
        "remote": {"per_second": 1, "burst_count": 20},
    },
    "rc_joins_per_room": {"per_second": 20, "burst_count": 200},
    "rc_invites": {
        "per_room": {"per_second": 5, "burst_count": 100},
        "per_user": {"per_second": 1, "burst_count": 50},
        "per_issuer": {"per_second": 5, "burst_count": 100},
    },
    "rc_room_creation": {"per_second": 1, "burst_count": 20},
    "rc_admin_redaction": {"per_second": 5, "burst_count": 100},
}

# Tests hammer one server from one address: no limit they could meet.
TEST_RATE_LIMITS: Mapping[str, object] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_room_creation": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_federation": {"sleep_limit": 100_000, "reject_limit": 100_000, "concurrent": 1_000},
}


@dataclass(frozen=True)
class StateLayout:
    """Where each file lives under a state directory; one place to change it."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "homeserver.yaml"

    @property
    def log_config(self) -> Path:
        return self.root / "log.yaml"

    @property
    def log(self) -> Path:
        return self.root / "homeserver.log"

    @property
    def console_log(self) -> Path:
        """Synapse's own stdout/stderr: start-up failures land here, before logging is up."""
        return self.root / "console.log"

    @property
    def media_store(self) -> Path:
        return self.root / "media_store"

    @property
    def signing_key(self) -> Path:
        return self.root / "signing.key"

    @property
    def tls_certificate(self) -> Path:
        return self.root / "tls" / "federation.crt"

    @property
    def tls_private_key(self) -> Path:
        return self.root / "tls" / "federation.key"

    def secret(self, name: str) -> Path:
        return self.root / "secrets" / f"{name}.secret"

    def registration(self, appservice_id: str) -> Path:
        return self.root / "appservices" / f"{appservice_id}.yaml"

    def worker_config(self, name: str) -> Path:
        return self.root / "workers" / f"{name}.yaml"

    def worker_log_config(self, name: str) -> Path:
        return self.root / "workers" / f"{name}.log.yaml"

    def worker_log(self, name: str) -> Path:
        return self.root / f"homeserver-{name}.log"


@dataclass(frozen=True)
class RenderedWorker:
    """One Synapse worker: ``python -m synapse.app.generic_worker -c homeserver.yaml -c
    <config_path>``; a generic worker serves client and federation reads on ``port``."""

    name: str
    config_path: Path
    port: int
    generic: bool


@dataclass(frozen=True)
class RenderedHomeserver:
    """What a render produced: everything :class:`SynapseProcess` and tests need to know."""

    server_name: ServerName
    layout: StateLayout
    client_url: str
    federation_url: str | None
    registration_paths: tuple[Path, ...]
    workers: tuple[RenderedWorker, ...] = ()

    @property
    def config_path(self) -> Path:
        return self.layout.config


def render_homeserver(settings: HomeserverSettings) -> RenderedHomeserver:
    """Write (or rewrite, byte-identically) every file Synapse needs under ``state_dir``."""
    layout = StateLayout(settings.state_dir)
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _ensure_key_material(settings, layout)
    environment = _environment()
    registrations = tuple(
        _write_registration(environment, layout, service, settings.enable_registration)
        for service in settings.appservices
    )
    log_config = environment.get_template("log.yaml.j2").render(
        log_path=str(layout.log), max_bytes=_LOG_MAX_BYTES, backup_count=_LOG_BACKUPS
    )
    _write_yaml(layout.log_config, log_config)
    context = homeserver_context(settings, layout, registrations)
    _write_yaml(layout.config, environment.get_template("homeserver.yaml.j2").render(context))
    workers = _write_workers(environment, settings, layout)
    logger.info("rendered Synapse config for %s into %s", settings.server_name, layout.root)
    return _rendered(settings, layout, registrations, workers)


def _ensure_key_material(settings: HomeserverSettings, layout: StateLayout) -> None:
    """Created on the first render only: later renders must not change a token or a key."""
    for name in ("macaroon", "form", "registration_shared"):
        ensure_secret_file(layout.secret(name))
    ensure_signing_key(layout.signing_key)
    if settings.federation_port is not None:
        ensure_tls_certificate(layout.tls_certificate, layout.tls_private_key)


def _rendered(
    settings: HomeserverSettings,
    layout: StateLayout,
    registrations: tuple[Path, ...],
    workers: tuple[RenderedWorker, ...] = (),
) -> RenderedHomeserver:
    host = _reachable_host(settings.bind_host)
    federation_port = settings.federation_port
    return RenderedHomeserver(
        server_name=settings.server_name,
        layout=layout,
        client_url=_url("http", host, settings.client_port),
        federation_url=None if federation_port is None else _url("https", host, federation_port),
        registration_paths=registrations,
        workers=workers,
    )


def homeserver_context(
    settings: HomeserverSettings, layout: StateLayout, registrations: tuple[Path, ...]
) -> dict[str, object]:
    """The template's variables, all plain JSON values (paths as strings)."""
    return {
        "server_name": settings.server_name,
        "public_baseurl": settings.public_baseurl,
        "log_config_path": str(layout.log_config),
        "media_store_path": str(layout.media_store),
        "signing_key_path": str(layout.signing_key),
        "macaroon_secret_key_path": str(layout.secret("macaroon")),
        "form_secret_path": str(layout.secret("form")),
        "registration_shared_secret_path": str(layout.secret("registration_shared")),
        "bind_host": settings.bind_host,
        "client_port": settings.client_port,
        "federation_port": settings.federation_port,
        "behind_proxy": settings.behind_proxy,
        "tls_certificate_path": str(layout.tls_certificate),
        "tls_private_key_path": str(layout.tls_private_key),
        "database": database_config(settings.database, layout),
        "federation_allowlist": list(settings.federation_allowlist),
        "for_tests": settings.for_tests,
        "enable_registration": settings.enable_registration,
        "appservice_config_files": [str(path) for path in registrations],
        "rate_limits": TEST_RATE_LIMITS if settings.for_tests else SCHOOL_RATE_LIMITS,
        "modules": [{"module": m.module, "config": dict(m.config)} for m in settings.modules],
        "oidc_providers": [settings.sso.synapse_config()] if settings.sso else [],
        "sso_clients": list(settings.sso_clients),
        "synapse_pages": str(SYNAPSE_PAGES),
        "workers": _workers_context(settings.workers),
        "default_retention_days": settings.default_retention_days,
        "gc_min_interval": list(settings.gc_min_interval or ()),
        "cache_factor": settings.cache_factor,
        "metrics": None
        if settings.metrics is None
        else {"host": settings.metrics[0], "port": settings.metrics[1]},
    }


def _workers_context(workers: SynapseWorkers | None) -> dict[str, object] | None:
    if workers is None or not workers.names:
        return None
    instances = {"main": {"host": "127.0.0.1", "port": workers.first_port}}
    instances |= {name: {"host": "127.0.0.1", "port": workers.port(name)} for name in workers.names}
    # Without persisters main writes the events: Synapse's default. Naming it would be wrong:
    # instance_map calls it "main", but Synapse renames that to "master" and then refuses a
    # stream writer "main" as missing from the map.
    writers = {"events": list(workers.persisters)} if workers.persisters else {}
    return {
        "replication_port": workers.first_port,
        "instance_map": instances,
        "stream_writers": writers,
        "redis": {
            "enabled": True,
            "host": workers.redis_host,
            "port": workers.redis_port,
            "dbid": workers.redis_dbid,
        },
    }


def _write_workers(
    environment: jinja2.Environment, settings: HomeserverSettings, layout: StateLayout
) -> tuple[RenderedWorker, ...]:
    workers = settings.workers
    if workers is None:
        return ()
    out = []
    for name in workers.names:
        generic = name in workers.generic
        log_config = environment.get_template("log.yaml.j2").render(
            log_path=str(layout.worker_log(name)),
            max_bytes=_LOG_MAX_BYTES,
            backup_count=_LOG_BACKUPS,
        )
        _write_yaml(layout.worker_log_config(name), log_config)
        text = environment.get_template("worker.yaml.j2").render(
            name=name,
            port=workers.port(name),
            bind_host=settings.bind_host if generic else "127.0.0.1",
            resources=["client", "federation"] if generic else ["replication"],
            behind_proxy=settings.behind_proxy,
            log_config_path=str(layout.worker_log_config(name)),
        )
        _write_yaml(layout.worker_config(name), text)
        out.append(RenderedWorker(name, layout.worker_config(name), workers.port(name), generic))
    return tuple(out)


def database_config(
    database: SqliteDatabase | PostgresDatabase, layout: StateLayout
) -> dict[str, object]:
    """Synapse's ``database`` section; a PostgreSQL password is read from its file here."""
    if isinstance(database, SqliteDatabase):
        return {"name": "sqlite3", "args": {"database": str(database.path)}}
    args: dict[str, object] = {
        "user": database.user,
        "dbname": database.dbname,
        "host": database.host,
        "port": database.port,
        "cp_min": database.cp_min,
        "cp_max": database.cp_max,
    }
    if database.password_file is not None:
        args["password"] = read_secret_file(database.password_file)
    return {"name": "psycopg2", "args": args}


def _write_registration(
    environment: jinja2.Environment,
    layout: StateLayout,
    service: AppserviceRegistration,
    open_registration: bool = False,
) -> Path:
    """People's accounts live in the service's user namespace. Synapse evaluates no push
    rules — so keeps no unread counts and sends no notifications — for users of an
    *exclusive* namespace; it is exclusive only when anybody may register (then a stranger
    could take a person's name), at the cost of those counts."""
    path = layout.registration(service.id)
    text = environment.get_template("registration.yaml.j2").render(
        id=service.id,
        url=service.url,
        as_token=service.as_token,
        hs_token=service.hs_token,
        sender_localpart=service.sender_localpart,
        rate_limited=service.rate_limited,
        user_regex=service.user_regex,
        alias_regex=service.alias_regex,
        exclusive_users=open_registration,
    )
    _write_yaml(path, text)
    return path


def _write_yaml(path: Path, text: str) -> None:
    """Check the text parses as a YAML mapping, then write it 0600 if it changed."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RenderError(f"{path.name}: rendered YAML does not parse: {e}") from e
    if not isinstance(parsed, dict):
        raise RenderError(f"{path.name}: rendered YAML is not a mapping")
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data and path.stat().st_mode & 0o077 == 0:
        return
    write_private(path, data)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML, not HTML: every value goes through tojson
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["tojson"] = _to_json
    return environment


def _to_json(value: object) -> str:
    """Jinja's own ``tojson`` HTML-escapes; here only exact, sorted, ASCII JSON will do."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise RenderError(f"cannot render {value!r} as JSON: {e}") from e


def _reachable_host(bind_host: str) -> str:
    """Where a local client reaches a listener bound to ``bind_host`` (a wildcard is no address)."""
    return _WILDCARD_TO_LOOPBACK.get(bind_host, bind_host)


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
