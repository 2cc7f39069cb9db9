"""What one school's homeserver looks like, validated before anything is written.

These objects are the whole input of :func:`homeserver.render.render_homeserver`; they check
themselves in ``__post_init__`` so a bad value fails here, naming its field, and not minutes
later inside Synapse with a stack trace.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from homeserver.errors import SettingsError
from kernel.config import SYNAPSE_DURATION
from kernel.ids import ServerName

_SERVER_NAME = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)(?::(?P<port>\d{1,5}))?"
)
_LOCALPART = re.compile(r"[a-z0-9._=\-/+]+")
_MODULE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_MIN_TOKEN_LENGTH = 16


def _check_port(name: str, port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise SettingsError(name, f"{port!r} is not a TCP port (1–65535)")


def _check_server_name(name: str, value: str) -> None:
    """Matrix server-name grammar: a hostname or IP literal, optionally with ``:port``."""
    match = _SERVER_NAME.fullmatch(value)
    if match is None:
        raise SettingsError(name, f"{value!r} is not a server name (host or host:port)")
    if match["port"] is not None:
        _check_port(name, int(match["port"]))
    if match["host"].startswith("["):
        _check_ip(name, match["host"][1:-1])


def _check_ip(name: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError as e:
        raise SettingsError(name, f"{value!r} is not an IP address") from e


def _check_durations(name: str, values: tuple[str, ...]) -> None:
    """Three of Synapse's durations (``500ms``, ``30s``, ``10m``, ``1h``), one a generation."""
    if len(values) != 3 or not all(SYNAPSE_DURATION.fullmatch(v) for v in values):
        raise SettingsError(name, f"{list(values)!r} is not three durations such as 30s or 10m")


def _check_regex(name: str, value: str) -> None:
    try:
        re.compile(value)
    except re.error as e:
        raise SettingsError(name, f"{value!r} is not a regular expression: {e}") from e


def _check_absolute(name: str, path: Path) -> None:
    """Synapse resolves relative paths against its working directory: refuse them."""
    if not path.is_absolute():
        raise SettingsError(name, f"{path} must be an absolute path")


@dataclass(frozen=True, kw_only=True)
class AppserviceRegistration:
    """One application service as Synapse's registration file describes it."""

    id: str
    url: str
    as_token: str
    hs_token: str
    sender_localpart: str
    user_regex: str
    alias_regex: str
    rate_limited: bool = False

    def __post_init__(self) -> None:
        if not _LOCALPART.fullmatch(self.id):
            raise SettingsError("appservice.id", f"{self.id!r} must be a simple lower-case name")
        if not self.url.startswith(("http://", "https://")):
            raise SettingsError(f"appservice {self.id}.url", f"{self.url!r} is not an http(s) URL")
        for name in ("as_token", "hs_token"):
            if len(getattr(self, name)) < _MIN_TOKEN_LENGTH:
                raise SettingsError(f"appservice {self.id}.{name}", "is shorter than 16 chars")
        if self.as_token == self.hs_token:
            raise SettingsError(f"appservice {self.id}.hs_token", "must differ from as_token")
        if not _LOCALPART.fullmatch(self.sender_localpart):
            raise SettingsError(f"appservice {self.id}.sender_localpart", "is not a localpart")
        _check_regex(f"appservice {self.id}.user_regex", self.user_regex)
        _check_regex(f"appservice {self.id}.alias_regex", self.alias_regex)


@dataclass(frozen=True, kw_only=True)
class SqliteDatabase:
    """Good for tests and the demo; a school in production wants PostgreSQL."""

    path: Path

    def __post_init__(self) -> None:
        _check_absolute("database.path", self.path)


@dataclass(frozen=True, kw_only=True)
class PostgresDatabase:
    """Connection settings handed to Synapse's psycopg2 pool.

    The database must exist with C collation: see :func:`homeserver.postgres.ensure_database`.
    """

    dbname: str
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password_file: Path | None = None
    cp_min: int = 5
    cp_max: int = 10

    def __post_init__(self) -> None:
        if not self.dbname or not self.user or not self.host:
            raise SettingsError("database", "dbname, user and host must not be empty")
        _check_port("database.port", self.port)
        if not 1 <= self.cp_min <= self.cp_max:
            raise SettingsError("database.cp_max", "need 1 <= cp_min <= cp_max")
        if self.password_file is not None:
            _check_absolute("database.password_file", self.password_file)


@dataclass(frozen=True, kw_only=True)
class ModuleSpec:
    """A Synapse module: its import path and the JSON-like config Synapse passes to it."""

    module: str
    config: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _MODULE_PATH.fullmatch(self.module):
            raise SettingsError("modules", f"{self.module!r} is not a dotted import path")
        try:
            json.dumps(self.config, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise SettingsError(f"modules.{self.module}.config", f"not JSON-like: {e}") from e


@dataclass(frozen=True, kw_only=True)
class OidcProvider:
    """Single sign-on through the school diary (an OpenID Connect provider).

    Users are mapped to the account the diary linked (``matrix_localpart`` claim),
    which already exists: a school account or one the person linked.
    """

    idp_id: str
    idp_name: str
    issuer: str
    client_id: str
    client_secret_path: Path
    skip_verification: bool = False
    """Only for an ``http://`` issuer on loopback (development and tests)."""

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("http://", "https://")):
            raise SettingsError("oidc.issuer", f"{self.issuer!r} is not http(s)")
        _check_absolute("oidc.client_secret_path", self.client_secret_path)

    def synapse_config(self) -> dict[str, object]:
        return {
            "idp_id": self.idp_id,
            "idp_name": self.idp_name,
            "discover": True,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret_path": str(self.client_secret_path),
            "client_auth_method": "client_secret_post",
            "scopes": ["openid", "profile"],
            "skip_verification": self.skip_verification,
            "allow_existing_users": True,
            "user_mapping_provider": {
                "config": {
                    "subject_claim": "sub",
                    "localpart_template": "{{ user.matrix_localpart }}",
                    "display_name_template": "{{ user.name }}",
                }
            },
        }


@dataclass(frozen=True, kw_only=True)
class SynapseWorkers:
    """Synapse's own way to use more than one core: event persisters sharing the event
    stream, generic workers for client and federation reads, Redis between them.

    Ports: the main process's replication listener is ``first_port``; worker ``k`` (the
    persisters first, then the generic workers) listens on ``first_port + 1 + k``.
    PostgreSQL only (Synapse's workers cannot share SQLite).
    """

    event_persisters: int = 0
    generic_workers: int = 0
    first_port: int = 8100
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_dbid: int = 0

    def __post_init__(self) -> None:
        if self.event_persisters < 0 or self.generic_workers < 0:
            raise SettingsError("workers", "counts cannot be negative")
        _check_port("workers.first_port", self.first_port)
        _check_port("workers.first_port", self.first_port + len(self.names))
        _check_port("workers.redis_port", self.redis_port)

    @property
    def persisters(self) -> tuple[str, ...]:
        return tuple(f"persister{i + 1}" for i in range(self.event_persisters))

    @property
    def generic(self) -> tuple[str, ...]:
        return tuple(f"generic{i + 1}" for i in range(self.generic_workers))

    @property
    def names(self) -> tuple[str, ...]:
        return self.persisters + self.generic

    def port(self, name: str) -> int:
        return self.first_port + 1 + self.names.index(name)


@dataclass(frozen=True, kw_only=True)
class HomeserverSettings:
    """One Synapse instance.

    Federation is off unless ``federation_port`` is set, and then limited to
    ``federation_allowlist``: a school's rooms hold minors, so open federation is not an
    option this package offers (an empty allow-list would mean "everybody" to Synapse).
    ``for_tests`` lifts rate limits, shortens federation back-off and allows loopback peers.
    """

    server_name: ServerName
    state_dir: Path
    database: SqliteDatabase | PostgresDatabase
    bind_host: str = "127.0.0.1"
    client_port: int = 8008
    public_baseurl: str | None = None
    federation_port: int | None = None
    federation_allowlist: tuple[ServerName, ...] = ()
    appservices: tuple[AppserviceRegistration, ...] = ()
    modules: tuple[ModuleSpec, ...] = ()
    sso: OidcProvider | None = None
    sso_clients: tuple[str, ...] = ()
    """Pages single sign-on may return to without asking (the call bridge's call page)."""
    enable_registration: bool = False
    behind_proxy: bool = False
    """A reverse proxy terminates TLS: the client listener trusts ``X-Forwarded-For`` and also
    serves federation (the proxy forwards ``/_matrix/federation`` and ``/_matrix/key`` to it)."""
    workers: SynapseWorkers | None = None
    for_tests: bool = False
    metrics: tuple[str, int] | None = None
    """Synapse's own Prometheus listener (host, port): ``enable_metrics`` and a ``metrics``
    listener there; off when ``None``."""
    default_retention_days: int | None = None
    """Messages in rooms without their own ``m.room.retention`` (personal chats) are deleted
    after this many days; ``None``: Synapse's retention is on, with no default period."""
    gc_min_interval: tuple[str, str, str] | None = None
    """The least time between passes of Synapse's garbage collector over each generation
    (Synapse's ``gc_min_interval``, durations such as ``"30s"``); ``None``: Synapse's own
    (1 s, 10 s, 30 s)."""
    cache_factor: float | None = None
    """Synapse's ``caches.global_factor`` (every cache's size times it); ``None``: Synapse's
    own (0.5)."""

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers.names:
            if not isinstance(self.database, PostgresDatabase):
                raise SettingsError("workers", "Synapse's workers need PostgreSQL")
            if self.client_port in range(
                self.workers.first_port, self.workers.first_port + len(self.workers.names) + 1
            ):
                raise SettingsError("workers.first_port", "its ports overlap client_port")
        _check_server_name("server_name", self.server_name)
        _check_absolute("state_dir", self.state_dir)
        if self.gc_min_interval is not None:
            _check_durations("gc_min_interval", self.gc_min_interval)
        if self.cache_factor is not None and not 0 < self.cache_factor <= 100:
            raise SettingsError("cache_factor", f"{self.cache_factor!r} is not in (0, 100]")
        _check_ip("bind_host", self.bind_host)
        _check_port("client_port", self.client_port)
        if self.public_baseurl is not None and not self.public_baseurl.startswith(
            ("http://", "https://")
        ):
            raise SettingsError("public_baseurl", f"{self.public_baseurl!r} is not http(s)")
        self._check_federation()
        self._check_appservices()

    def _check_federation(self) -> None:
        for peer in self.federation_allowlist:
            _check_server_name("federation_allowlist", peer)
        if self.federation_port is None:
            if self.federation_allowlist and not self.behind_proxy:
                raise SettingsError("federation_allowlist", "set, but federation_port is not")
            return
        _check_port("federation_port", self.federation_port)
        if self.federation_port == self.client_port:
            raise SettingsError("federation_port", "must differ from client_port")
        if not self.federation_allowlist:
            raise SettingsError(
                "federation_allowlist", "is empty: list the peers (open federation is refused)"
            )

    def _check_appservices(self) -> None:
        ids = [service.id for service in self.appservices]
        if len(set(ids)) != len(ids):
            raise SettingsError("appservices", f"duplicate ids in {ids}")
        tokens = [t for s in self.appservices for t in (s.as_token, s.hs_token)]
        if len(set(tokens)) != len(tokens):
            raise SettingsError("appservices", "two application services share a token")
