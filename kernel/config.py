"""One configuration file per school, validated at start-up.

Unknown keys are refused with the key's path and the file's name; secrets are
never in the file, only paths to files holding them (``*_file``); the user's
file is never rewritten.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kernel.matrix.admin import AdminFiles

OIDC_CLIENT_ID = "synapse"
OIDC_IDP_ID = "diary"
"""Synapse names the provider ``oidc-<this>`` in its login flows."""
"""The diary's one OpenID client: the school's own homeserver."""


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Model):
    """``sqlite`` keeps its file in the state folder; ``postgres`` needs a DSN."""

    kind: Literal["sqlite", "postgres"] = "sqlite"
    dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    """An administrative DSN: parta creates its databases through it."""
    name_prefix: str = "parta"


class SynapseWorkersConfig(_Model):
    """Synapse's workers (PostgreSQL and Redis): event persisters and generic workers.
    None by default; the main process's replication port is ``first_port``, worker ``k``
    listens on ``first_port + 1 + k``."""

    event_persisters: int = Field(0, ge=0, le=16)
    generic_workers: int = Field(0, ge=0, le=16)
    first_port: int = Field(8100, ge=1, le=65000)
    redis_host: str = "127.0.0.1"
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_dbid: int = Field(0, ge=0, le=15)


SYNAPSE_DURATION = re.compile(r"[1-9][0-9]{0,8}(ms|s|m|h)")
"""One of Synapse's durations as parta writes them: ``500ms``, ``30s``, ``10m``, ``1h``."""


class HomeserverConfig(_Model):
    bind_host: str = "127.0.0.1"
    public_url: str = ""
    """How clients reach the homeserver (``https://…`` behind a proxy); default its listener."""
    client_port: int = Field(8008, ge=1, le=65535)
    federation_port: int | None = Field(None, ge=1, le=65535)
    federation_allowlist: tuple[str, ...] = ()
    behind_proxy: bool = False
    """A reverse proxy (nginx) terminates TLS and forwards federation to the client listener."""
    workers: SynapseWorkersConfig = SynapseWorkersConfig()
    gc_min_interval: tuple[str, str, str] | None = None
    """The least time between passes of Synapse's garbage collector over generations 0, 1
    and 2, e.g. ``["1s", "60s", "10m"]``; unset: Synapse's own (1 s, 10 s, 30 s). A gen-2 pass
    over a big school's caches stops Synapse for a second or more (``parta bench day
    --lever gc`` measures it)."""

    cache_factor: float | None = Field(None, gt=0, le=100)
    """Synapse's ``caches.global_factor``: every cache's size times this; unset, Synapse's own
    (0.5). Memory for fewer database reads (``parta bench day --lever caches`` weighs it)."""

    @field_validator("gc_min_interval")
    @classmethod
    def _durations(cls, value: tuple[str, str, str] | None) -> tuple[str, str, str] | None:
        for duration in value or ():
            if not SYNAPSE_DURATION.fullmatch(duration):
                raise ValueError(f"{duration!r} is not a duration such as 30s or 10m")
        return value


class AppserviceConfig(_Model):
    bind_host: str = "127.0.0.1"
    port: int = Field(9008, ge=1, le=65535)
    id: str = "parta"
    bot_localpart: str = "parta"
    catch_up_seconds: int = Field(30, ge=0, le=3600)
    """How often the bot's timeline is read for events the homeserver did not send
    (:mod:`appservice.catch_up`); 0: never."""


class SyncConfig(_Model):
    eager: bool = False
    concurrency: int = Field(8, ge=1, le=64)
    max_removal_share: float = Field(0.2, gt=0, le=1)


def parse_quiet_hours(value: str) -> tuple[time, time]:
    start, sep, end = value.partition("-")
    try:
        if not sep:
            raise ValueError(value)
        window = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError as e:
        raise ValueError(f"expected HH:MM-HH:MM, got {value!r}") from e
    if window[0] == window[1]:
        raise ValueError("the quiet hours start and end at the same time")
    return window


class SafetyOverride(_Model):
    students_may_create_rooms: bool | None = None
    students_may_invite: bool | None = None


class SafetyConfig(_Model):
    """Safe mode for students (the defaults are the safe ones); exceptions by class or person.

    Whatever is set here, a student is reachable only by their school's staff, classmates
    and own parents, and never joins a room that federates.
    """

    students_may_create_rooms: bool = False
    students_may_invite: bool = True
    classes: dict[str, SafetyOverride] = Field(default_factory=dict)
    """By the class's sourcedId (a homeroom)."""
    people: dict[str, SafetyOverride] = Field(default_factory=dict)
    """By the person's sourcedId."""
    quiet_hours: str | None = None
    """``"21:00-07:00"``: no notifications to students then (the diary's time zone)."""
    safeguarding_leads: tuple[str, ...] = ()
    """SourcedIds of staff who see reports in «Модерация» and act on them with the
    administration (a school's safeguarding lead, a psychologist)."""
    quiet_check_seconds: int = Field(60, ge=1, le=3600)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value


class RetentionConfig(_Model):
    """How long the school keeps what is said, and what becomes of people who leave.

    Messages older than their room's period are deleted by Synapse's retention jobs; the
    period is in each room's ``m.room.retention`` state, so every client can show it.
    """

    school_rooms_days: int | None = Field(548, ge=1)
    """Rooms the diary makes (class chats, parents' chats, announcements, staff room): a
    school year and six months by default; ``null``: kept for good."""
    personal_days: int | None = Field(183, ge=1)
    """Every other room (personal chats, groups people make): the server's default policy."""
    erase_after_days: int = Field(30, ge=0)
    """A person who left the roster is erased (profile, uploads) this long after their
    account was switched off (``parta people erase``, or the sync with ``erase_on_sync``)."""
    erase_on_sync: bool = False


class RegionConfig(_Model):
    """Schools of one region: they federate with each other only and share a teachers' network.

    The network space lives on ``network_host``; every school's «Сеть учителей» room hangs in
    it. Rooms that hold minors never federate, and never appear in it.
    """

    name: str = "Сеть учителей региона"
    network_host: str
    """The server name of the school that holds the network space."""
    schools: tuple[str, ...]
    """Server names of every school of the region, this one included."""
    bot_localpart: str = "parta"
    """The appservice user of every school (they add their rooms to the network space)."""


class DistrictConfig(_Model):
    """A district's one roster export synced onto several servers (or one shared server)."""

    schools: tuple[str, ...] = ()
    """SourcedIds of the roster's schools (``orgs.csv``) this server hosts; empty: every
    school of the roster. ``parta sync EXPORT -c a.yaml -c b.yaml`` shares the export out by
    these lists and refuses a school no list names, or two lists name."""


class MailConfig(_Model):
    """Where password-reset messages go: a folder of files (default), the log, or SMTP."""

    kind: Literal["file", "console", "smtp"] = "file"
    sender: str = "parta@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password_file: Path | None = None


class SmsConfig(_Model):
    """Where password-reset SMS go: a folder of files (default), the log, or an HTTP gateway."""

    kind: Literal["file", "console", "http"] = "file"
    url: str = ""
    """The gateway (``http``): it gets ``POST {"to", "text", "sender"}``."""
    token_file: Path | None = None
    sender: str = "parta"


def _matrix_user_id(value: str) -> str:
    """An empty value, or a Matrix user id (@name:server)."""
    if value and not re.fullmatch(r"@[^:\s]+:[^\s]+", value):
        raise ValueError(f"{value!r} is not a Matrix user id (@name:server)")
    return value


class OperatorConfig(_Model):
    """The region's operator: whom a school's administration asks (their «Поддержка»)."""

    name: str = ""
    user_id: str = ""
    email: str = ""
    phone: str = ""

    @field_validator("user_id")
    @classmethod
    def _user_id(cls, value: str) -> str:
        return _matrix_user_id(value)


class SupportConfig(_Model):
    """«Поддержка» in the messenger (C5): who answers questions about chats and the diary."""

    operator: OperatorConfig = OperatorConfig()
    """Where the administration's own «Поддержка» leads (they are the school's support)."""
    user_id: str = ""
    """A Matrix account to write to; default: the school's first linked administrator."""
    text: str = ""
    """What the support dialog says; default: the messenger's own words."""
    email: str = ""
    phone: str = ""

    @field_validator("user_id")
    @classmethod
    def _user_id(cls, value: str) -> str:
        return _matrix_user_id(value)


class DiaryConfig(_Model):
    """The diary (web_client): its address, its clock and its sign-in rules."""

    bind_host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = ""
    """How browsers reach the diary (``https://…`` behind a proxy); default ``http://host:port``."""
    call_url: str = ""
    """The call bridge's public address; default: the diary's own ``/calls`` placeholder."""
    timezone: str = "Europe/Moscow"
    session_hours: int = Field(12, ge=1, le=24 * 7)
    remembered_days: int = Field(30, ge=1, le=365)
    """How long «Остаться в системе» keeps a person signed in."""
    login_attempts: int = Field(5, ge=1, le=100)
    """Wrong passwords for one account from one address (or from the browsers it signed in
    from) before it must wait there (1 min, then doubling up to ``lockout_minutes``); ten times
    this from everywhere, and new browsers wait everywhere; an address is slowed past twenty
    times this."""
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (their addresses) whose ``X-Forwarded-For`` names the real client: the
    login limits count by it. Empty: the connection's own address."""
    reset_minutes: int = Field(60, ge=5, le=24 * 60)
    activation_days: int = Field(30, ge=1, le=365)
    """How long an access letter's code works (it works once)."""
    mail: MailConfig = MailConfig()
    sms: SmsConfig = SmsConfig()
    support: SupportConfig = SupportConfig()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from e
        return value

    homeservers: dict[str, str] = Field(default_factory=dict)
    """Client URLs of other servers whose accounts adults may link (``server_name: url``);
    others are found through ``https://<server>/.well-known/matrix/client``."""


class IceServerConfig(_Model):
    """One ICE server the call pages and the bridge use. Never a public STUN server."""

    urls: tuple[str, ...]
    username: str = ""
    credential_file: Path | None = None
    """A static TURN password, read from this file."""


class RemoteServerConfig(_Model):
    """How the bridge reaches another school's federation API (for OpenID checks)."""

    url: str
    ca_file: Path | None = None
    """The CA (or self-signed certificate) its TLS is checked against; default the system's."""


class MetricsConfig(_Model):
    """Prometheus metrics, each component on its own internal port (never the public proxy's):
    Synapse at ``first_port``, the appservice +1, the diary +2, the bots +3, the call bridge's
    front +4 and its worker ``i`` at +5+i. Labels never carry a person or a room."""

    enabled: bool = False
    bind_host: str = "127.0.0.1"
    first_port: int = Field(9400, ge=1, le=65000)

    def port(self, component: str, worker: int = 0) -> int:
        if component == "call_bridge_worker":
            return self.first_port + len(METRICS_COMPONENTS) + worker
        return self.first_port + METRICS_COMPONENTS.index(component)


METRICS_COMPONENTS = ("synapse", "appservice", "diary", "bots", "call_bridge")


class CallBridgeConfig(_Model):
    """The call bridge: one front (pages, placement) and a pool of forwarding processes."""

    enabled: bool = True
    bind_host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    """The front; worker ``i`` listens on ``port + 1 + i``."""
    workers: int = Field(2, ge=1, le=64)
    public_url: str = ""
    """How browsers reach the front (``https://…`` behind a proxy); default ``http://host:port``."""
    ice_servers: tuple[IceServerConfig, ...] = ()
    """Empty: host candidates only (one LAN). Add a TURN server for the internet."""
    turn_urls: tuple[str, ...] = ()
    """coturn with ``use-auth-secret``: short-lived credentials per participant."""
    turn_secret_file: Path | None = None
    turn_ttl_seconds: int = Field(6 * 3600, ge=60, le=48 * 3600)
    window_before_minutes: int = Field(10, ge=0, le=24 * 60)
    window_after_minutes: int = Field(15, ge=0, le=24 * 60)
    voices: int = Field(3, ge=1, le=64)
    """How many voices a call forwards at once: the loudest (``parta bench calls`` weighs it)."""
    servers: dict[str, RemoteServerConfig] = Field(default_factory=dict)
    """Other schools of the region whose teachers may join (server name → federation API)."""
    frame_ancestors: tuple[str, ...] = ()
    """Origins of Matrix web clients that may show the call page in a frame (a widget in
    Element Web, say: ``https://element.school14.example``). The bridge's and the diary's
    own origins always may; nobody else."""

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin (https://host[:port])")
        return value


class BotsConfig(_Model):
    """The school's bots (lesson links and reminders)."""

    enabled: bool = True
    bind_host: str = "127.0.0.1"
    port: int = Field(8089, ge=1, le=65535)
    """Status only (``/health``: reconciliations run so far)."""
    poll_seconds: float = Field(30.0, gt=0, le=3600)
    remind_minutes: int = Field(15, ge=0, le=24 * 60)
    horizon_days: int = Field(7, ge=1, le=31)


class BackupConfig(_Model):
    """``parta backup``: encrypted to these age public keys (``parta backup-key``); the
    secret key stays with the operator, off the school's host."""

    recipients: tuple[str, ...] = ()
    keep: int = Field(7, ge=1, le=365)
    """How many of the newest backups of this school ``parta backup`` leaves in its folder."""


class SchoolConfig(_Model):
    server_name: str
    state_dir: Path = Path("var/school")
    database: DatabaseConfig = DatabaseConfig()
    homeserver: HomeserverConfig = HomeserverConfig()
    appservice: AppserviceConfig = AppserviceConfig()
    sync: SyncConfig = SyncConfig()
    diary: DiaryConfig = DiaryConfig()
    safety: SafetyConfig = SafetyConfig()
    retention: RetentionConfig = RetentionConfig()
    region: RegionConfig | None = None
    district: DistrictConfig = DistrictConfig()
    call_bridge: CallBridgeConfig = CallBridgeConfig()
    bots: BotsConfig = BotsConfig()
    metrics: MetricsConfig = MetricsConfig()
    backup: BackupConfig = BackupConfig()
    language: Literal["ru", "en"] = "ru"
    for_tests: bool = False

    @field_validator("server_name")
    @classmethod
    def _server_name(cls, value: str) -> str:
        host, _, port = value.partition(":")
        if not host or any(c in host for c in "/@#! ") or (port and not port.isdigit()):
            raise ValueError("must be a Matrix server name such as school14.example.org")
        return value

    @property
    def homeserver_url(self) -> str:
        return f"http://{self.homeserver.bind_host}:{self.homeserver.client_port}"

    @property
    def appservice_url(self) -> str:
        return f"http://{self.appservice.bind_host}:{self.appservice.port}"

    @property
    def homeserver_public_url(self) -> str:
        return (self.homeserver.public_url or self.homeserver_url).rstrip("/")

    @property
    def diary_internal_url(self) -> str:
        """Where the homeserver's modules reach the diary (its listener, not the proxy)."""
        return f"http://{self.diary.bind_host}:{self.diary.port}"

    @property
    def oidc_client_secret_file(self) -> Path:
        return self.secrets_dir / "oidc_client_secret"

    @property
    def oidc_signing_key_file(self) -> Path:
        """The diary's OpenID Connect signing key (PEM)."""
        return self.secrets_dir / "oidc_signing_key.pem"

    @property
    def diary_url(self) -> str:
        return (self.diary.public_url or f"http://{self.diary.bind_host}:{self.diary.port}").rstrip(
            "/"
        )

    @property
    def call_url(self) -> str:
        if self.diary.call_url:
            return self.diary.call_url.rstrip("/")
        if self.call_bridge.enabled:
            return self.call_bridge_url
        return f"{self.diary_url}/calls"

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Where each running component's ``/metrics`` answers; empty when metrics are off."""
        metrics = self.metrics
        if not metrics.enabled:
            return {}
        running = ["synapse", "appservice", "diary"]
        running += ["bots"] if self.bots.enabled else []
        running += ["call_bridge"] if self.call_bridge.enabled else []
        urls = {c: f"http://{metrics.bind_host}:{metrics.port(c)}/metrics" for c in running}
        if self.call_bridge.enabled:
            for i in range(self.call_bridge.workers):
                port = metrics.port("call_bridge_worker", i)
                urls[f"call_bridge_worker_{i}"] = f"http://{metrics.bind_host}:{port}/metrics"
        return urls

    @property
    def call_bridge_url(self) -> str:
        bridge = self.call_bridge
        return (bridge.public_url or f"http://{bridge.bind_host}:{bridge.port}").rstrip("/")

    @property
    def sso_clients(self) -> tuple[str, ...]:
        """Pages that sign in through the diary without Synapse's "continue?" page (its
        ``sso.client_whitelist``): the messenger in «Чаты» and the call bridge's pages."""
        clients = [self.diary_url + "/"]
        if self.call_bridge.enabled:
            clients.append(self.call_bridge_url + "/")
        return tuple(clients)

    @property
    def diary_api_token_file(self) -> Path:
        """The bearer token of the diary's ``/api/v1`` (the bots and the bridge read it)."""
        return self.secrets_dir / "diary_api_token"

    @property
    def diary_db_name(self) -> str:
        return f"{self.database.name_prefix}_diary"

    def diary_store_url(self) -> str:
        return self._database_url(self.diary_db_name, self.state_dir / "diary.db")

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def admin_files(self) -> AdminFiles:
        """The homeserver's admin account (deactivating people who left, erasing them)."""
        secrets = self.state_dir / "homeserver" / "secrets"
        return AdminFiles(
            shared_secret=secrets / "registration_shared.secret",
            token=secrets / "admin_token.secret",
            password=secrets / "admin_password.secret",
        )

    @property
    def as_token_file(self) -> Path:
        return self.secrets_dir / "as_token"

    @property
    def hs_token_file(self) -> Path:
        return self.secrets_dir / "hs_token"

    @property
    def link_token_file(self) -> Path:
        """The diary's token for the appservice's ``/_parta/v1/link``."""
        return self.secrets_dir / "link_token"

    @property
    def invite_token_file(self) -> Path:
        """The diary's token for the bots' ``/_parta/v1/invites``."""
        return self.secrets_dir / "invite_token"

    @property
    def bots_url(self) -> str:
        return f"http://{self.bots.bind_host}:{self.bots.port}"

    @property
    def bridge_token_file(self) -> Path:
        """The call bridge's own token: its front asks its workers what calls they hold."""
        return self.secrets_dir / "bridge_token"

    @property
    def bots_token_file(self) -> Path:
        """The bots' token for the appservice's ``/_parta/v1/commands``."""
        return self.secrets_dir / "bots_token"

    @property
    def password_check_token_file(self) -> Path:
        """The homeserver module's token for the diary's password check."""
        return self.secrets_dir / "password_check_token"

    def store_url(self) -> str:
        return self._database_url(self.store_db_name, self.state_dir / "appservice.db")

    def component_store_url(self, component: Literal["bots", "bridge"], file: str) -> str:
        """A store of the bots or the bridge: its own SQLite file under the state folder (as
        before versions), or its table in the component's PostgreSQL database."""
        folder = "call_bridge" if component == "bridge" else component
        name = f"{self.database.name_prefix}_{component}"
        return self._database_url(name, self.state_dir / folder / file)

    @property
    def component_db_names(self) -> tuple[str, ...]:
        """Every database parta's own stores use on PostgreSQL (Synapse's apart)."""
        prefix = self.database.name_prefix
        return (self.store_db_name, self.diary_db_name, f"{prefix}_bots", f"{prefix}_bridge")

    @property
    def db_names(self) -> tuple[str, ...]:
        """Every database of the school on PostgreSQL: Synapse's, then parta's own stores."""
        return (self.synapse_db_name, *self.component_db_names)

    def _database_url(self, name: str, sqlite_file: Path) -> str:
        if self.database.kind == "sqlite":
            return f"sqlite:///{sqlite_file.resolve()}"
        base = self.database.dsn.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"

    @property
    def store_db_name(self) -> str:
        return f"{self.database.name_prefix}_appservice"

    @property
    def synapse_db_name(self) -> str:
        return f"{self.database.name_prefix}_synapse"


def load_config(path: Path) -> SchoolConfig:
    """``path``, and beside it the fragments ``<stem>.d/*.yaml`` (each adds top-level keys).

    A deployment writes one fragment per component (``parta.d/bots.yaml``…), so changing
    one component's settings changes one file and restarts one service. A key set in two
    files is refused with both files' names.
    """
    raw = _read_yaml(path)
    origin = dict.fromkeys(raw, path)
    fragments = path.parent / f"{path.stem}.d"
    for fragment in sorted(fragments.glob("*.yaml")) if fragments.is_dir() else ():
        for key, value in _read_yaml(fragment).items():
            if key in origin:
                raise ConfigError(f"{fragment}: '{key}' is already set in {origin[key]}")
            raw[key], origin[key] = value, fragment
    try:
        return SchoolConfig.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        files = ", ".join(str(f) for f in dict.fromkeys(origin.values())) or str(path)
        raise ConfigError(f"{files}: {problems}") from e


def _read_yaml(path: Path) -> dict[str, object]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return raw
