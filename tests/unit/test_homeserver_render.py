"""Rendering Synapse's configuration: parseable, stable, offline-clean, and strict on input."""

from __future__ import annotations

import dataclasses
import ipaddress
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from homeserver.errors import SettingsError
from homeserver.render import render_homeserver
from homeserver.settings import (
    AppserviceRegistration,
    HomeserverSettings,
    ModuleSpec,
    PostgresDatabase,
    SqliteDatabase,
    SynapseWorkers,
)
from kernel.ids import ServerName
from kernel.secrets import ensure_secret_file

SERVER = ServerName("localhost:8481")
PEER = ServerName("localhost:8482")


def _appservice(tmp_path: Path, **changes: Any) -> AppserviceRegistration:
    fields: dict[str, Any] = {
        "id": "parta",
        "url": "http://127.0.0.1:9000",
        "as_token": ensure_secret_file(tmp_path / "as_token"),
        "hs_token": ensure_secret_file(tmp_path / "hs_token"),
        "sender_localpart": "parta",
        "user_regex": "@parta_.*:localhost:8481",
        "alias_regex": "#parta_.*:localhost:8481",
    }
    return AppserviceRegistration(**(fields | changes))


def _settings(tmp_path: Path, **changes: Any) -> HomeserverSettings:
    state = tmp_path / "state"
    fields: dict[str, Any] = {
        "server_name": SERVER,
        "state_dir": state,
        "database": SqliteDatabase(path=state / "homeserver.db"),
        "client_port": 18008,
        "appservices": (_appservice(tmp_path),),
    }
    return HomeserverSettings(**(fields | changes))


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_rendered_config_is_an_offline_clean_yaml_mapping(tmp_path: Path) -> None:
    config = _load(render_homeserver(_settings(tmp_path)).config_path)

    assert config["server_name"] == SERVER
    assert config["trusted_key_servers"] == []
    assert config["suppress_key_server_warning"] is True
    assert config["report_stats"] is False
    assert config["presence"] == {"enabled": False}
    assert config["url_preview_enabled"] is False
    assert config["experimental_features"] == {"msc4235_enabled": True}
    assert config["listeners"][0]["port"] == 18008


def test_appservice_registration_is_unlimited_and_holds_the_tokens_from_the_files(
    tmp_path: Path,
) -> None:
    rendered = render_homeserver(_settings(tmp_path))
    (path,) = rendered.registration_paths
    registration = _load(path)

    assert registration["rate_limited"] is False
    assert registration["as_token"] == (tmp_path / "as_token").read_text()
    assert registration["hs_token"] == (tmp_path / "hs_token").read_text()
    # people's accounts: Synapse keeps unread counts only outside exclusive namespaces
    assert registration["namespaces"]["users"][0]["exclusive"] is False
    assert _load(rendered.config_path)["app_service_config_files"] == [str(path)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rendering_twice_gives_the_same_bytes_and_keeps_keys_and_secrets(tmp_path: Path) -> None:
    settings = _settings(tmp_path, federation_port=18448, federation_allowlist=(PEER,))
    render_homeserver(settings)
    first = _snapshot(settings.state_dir)
    render_homeserver(settings)

    assert _snapshot(settings.state_dir) == first
    assert {"signing.key", "tls/federation.crt", "secrets/macaroon.secret"} <= first.keys()


def test_secrets_are_referenced_by_path_not_copied_into_the_config(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    config_text = render_homeserver(settings).config_path.read_text()
    macaroon = settings.state_dir / "secrets" / "macaroon.secret"

    assert _load(settings.state_dir / "homeserver.yaml")["macaroon_secret_key_path"] == str(
        macaroon
    )
    assert macaroon.read_text() not in config_text


def test_without_a_federation_port_nobody_is_federated_with(tmp_path: Path) -> None:
    config = _load(render_homeserver(_settings(tmp_path)).config_path)

    assert config["federation_domain_whitelist"] == []
    # ``openid`` serves only /_matrix/federation/v1/openid/userinfo (the call bridge's check
    # of a caller's token), not federation
    names = [r["names"] for li in config["listeners"] for r in li["resources"]]
    assert names == [["client", "openid"]]
    assert "ip_range_whitelist" not in config


def test_federating_for_tests_allows_loopback_and_retries_fast(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, federation_port=18448, federation_allowlist=(PEER,), for_tests=True
    )
    rendered = render_homeserver(settings)
    config = _load(rendered.config_path)

    assert config["federation_domain_whitelist"] == [PEER]
    assert config["ip_range_whitelist"] == ["127.0.0.0/8", "::1/128"]
    assert config["federation"]["destination_min_retry_interval"] == "1s"
    assert config["listeners"][1] | {"bind_addresses": None} == {
        "port": 18448,
        "bind_addresses": None,
        "type": "http",
        "tls": True,
        "resources": [{"names": ["federation"], "compress": False}],
    }
    assert rendered.federation_url == "https://127.0.0.1:18448"


def test_federation_certificate_names_localhost_and_loopback(tmp_path: Path) -> None:
    settings = _settings(tmp_path, federation_port=18448, federation_allowlist=(PEER,))
    render_homeserver(settings)
    pem = (settings.state_dir / "tls" / "federation.crt").read_bytes()
    names = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )

    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


@pytest.mark.parametrize(
    ("for_tests", "minimum"), [(False, 5), (True, 100_000)], ids=["school", "tests"]
)
def test_rate_limits_are_raised(tmp_path: Path, for_tests: bool, minimum: int) -> None:
    config = _load(render_homeserver(_settings(tmp_path, for_tests=for_tests)).config_path)

    assert config["rc_message"]["per_second"] >= minimum
    assert config["rc_joins"]["local"]["per_second"] >= minimum
    assert config["rc_joins_per_room"]["burst_count"] >= minimum
    assert config["rc_invites"]["per_room"]["per_second"] >= minimum
    assert config["rc_login"]["address"]["per_second"] >= minimum


def test_strings_that_look_like_yaml_stay_plain_values(tmp_path: Path) -> None:
    hostile = '@parta_.*: {x: "y"}\n- [#]'
    rendered = render_homeserver(
        _settings(tmp_path, appservices=(_appservice(tmp_path, user_regex=hostile),))
    )

    assert _load(rendered.registration_paths[0])["namespaces"]["users"][0]["regex"] == hostile


def test_modules_and_postgres_are_rendered_as_given(tmp_path: Path) -> None:
    password = tmp_path / "pg_password"
    ensure_secret_file(password)
    settings = _settings(
        tmp_path,
        database=PostgresDatabase(dbname="synapse_a", password_file=password),
        modules=(ModuleSpec(module="parta_module.Gate", config={"rooms": ["ä", 1]}),),
    )
    config = _load(render_homeserver(settings).config_path)

    assert config["modules"] == [{"module": "parta_module.Gate", "config": {"rooms": ["ä", 1]}}]
    assert config["database"]["name"] == "psycopg2"
    assert config["database"]["args"]["dbname"] == "synapse_a"
    assert config["database"]["args"]["password"] == password.read_text()


def test_open_registration_is_declared_without_verification(tmp_path: Path) -> None:
    rendered = render_homeserver(_settings(tmp_path, enable_registration=True))
    config = _load(rendered.config_path)

    assert config["enable_registration"] is True
    assert config["enable_registration_without_verification"] is True
    # a stranger must not take a person's name
    assert _load(rendered.registration_paths[0])["namespaces"]["users"][0]["exclusive"] is True


def test_the_call_page_may_receive_a_login_without_a_confirmation_page(tmp_path: Path) -> None:
    plain = _load(render_homeserver(_settings(tmp_path / "a")).config_path)
    assert "sso" not in plain
    page = "http://127.0.0.1:9090/"
    config = _load(render_homeserver(_settings(tmp_path / "b", sso_clients=(page,))).config_path)
    assert config["sso"] == {"client_whitelist": [page]}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"client_port": 0}, "client_port"),
        ({"client_port": 70000}, "client_port"),
        ({"server_name": ServerName("localhost:99999")}, "server_name"),
        ({"server_name": ServerName("not a name")}, "server_name"),
        ({"state_dir": Path("relative/state")}, "state_dir"),
        ({"bind_host": "localhost"}, "bind_host"),
        ({"public_baseurl": "ftp://x/"}, "public_baseurl"),
        ({"gc_min_interval": ("1s", "60 s", "10m")}, "gc_min_interval"),
        ({"gc_min_interval": ("1s", "10m")}, "gc_min_interval"),
        ({"cache_factor": 0.0}, "cache_factor"),
        ({"federation_port": 18008}, "federation_port"),
        ({"federation_port": 18448}, "federation_allowlist"),
        ({"federation_allowlist": (PEER,)}, "federation_allowlist"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{field}: ") as raised:
        _settings(tmp_path, **changes)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"as_token": "short"}, "as_token"),
        ({"hs_token": "x" * 20, "as_token": "x" * 20}, "must differ"),
        ({"user_regex": "@parta_(.*"}, "not a regular expression"),
        ({"url": "127.0.0.1:9000"}, "not an http"),
        ({"id": "Parta Service"}, "simple lower-case name"),
    ],
)
def test_bad_appservice_registrations_are_refused(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        _appservice(tmp_path, **changes)


def test_appservices_must_not_share_ids(tmp_path: Path) -> None:
    first = _appservice(tmp_path)
    second = dataclasses.replace(first, as_token="a" * 32, hs_token="b" * 32)

    with pytest.raises(SettingsError, match="duplicate ids"):
        _settings(tmp_path, appservices=(first, second))


def test_module_config_must_be_json_like(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not JSON-like"):
        ModuleSpec(module="parta_module.Gate", config={"path": tmp_path})


@pytest.mark.parametrize(
    ("persisters", "writers"), [(0, ["master"]), (2, ["persister1", "persister2"])]
)
def test_synapse_reads_the_workers_config_as_meant(
    tmp_path: Path, persisters: int, writers: list[str]
) -> None:
    """Synapse's own parser, on main's config and a generic worker's: generic workers alone
    leave the events to main (which Synapse calls "master")."""
    from synapse.config._base import RootConfig
    from synapse.config.workers import WorkerConfig

    settings = _settings(
        tmp_path,
        database=PostgresDatabase(dbname="synapse_a"),
        workers=SynapseWorkers(event_persisters=persisters, generic_workers=1, first_port=18100),
    )
    rendered = render_homeserver(settings)
    generic = [w for w in rendered.workers if w.generic]
    assert [w.name for w in generic] == ["generic1"]
    config = _load(rendered.config_path) | _load(generic[0].config_path)
    parsed = WorkerConfig(RootConfig())
    parsed.read_config(config, allow_secrets_in_config=True)
    assert parsed.worker_name == "generic1"
    assert parsed.writers.events == writers
    assert "master" in parsed.instance_map


def test_synapse_reads_the_garbage_collector_s_pace_as_given(tmp_path: Path) -> None:
    """Synapse's own parser: unset, Synapse keeps its own pace; set, the seconds given."""
    from synapse.config._base import RootConfig
    from synapse.config.server import ServerConfig

    def parsed(settings: HomeserverSettings) -> object:
        config = ServerConfig(RootConfig())
        config.read_config(_load(render_homeserver(settings).config_path))
        return config.gc_seconds

    assert parsed(_settings(tmp_path)) is None
    paced = _settings(tmp_path / "paced", gc_min_interval=("1s", "60s", "10m"))
    assert parsed(paced) == (1.0, 60.0, 600.0)


def test_synapse_reads_the_caches_size_as_given(tmp_path: Path) -> None:
    """Synapse's own parser: unset, its default factor (0.5); set, the factor given."""
    from synapse.config._base import RootConfig
    from synapse.config.cache import CacheConfig

    def parsed(settings: HomeserverSettings) -> float:
        config = CacheConfig(RootConfig())
        config.read_config(_load(render_homeserver(settings).config_path))
        return config.global_factor

    assert parsed(_settings(tmp_path)) == 0.5
    assert parsed(_settings(tmp_path / "big", cache_factor=4.0)) == 4.0
