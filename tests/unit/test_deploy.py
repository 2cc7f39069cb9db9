"""`parta deploy prepare`: what the Ansible roles run on a host, idempotent and private."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import pytest

from kernel.config import SchoolConfig
from parta import deploy
from parta.deploy import prepare


def _config(state: Path) -> SchoolConfig:
    return SchoolConfig.model_validate(
        {
            "server_name": "school.test",
            "state_dir": str(state),
            "homeserver": {"behind_proxy": True, "federation_allowlist": ["other.test"]},
        }
    )


def test_a_second_prepare_changes_nothing_and_keeps_every_secret(tmp_path: Path) -> None:
    config = _config(tmp_path / "state")
    first = prepare(config, ["secrets", "homeserver"], None)
    assert any(path.endswith("homeserver.yaml") for path in first)
    assert any(path.endswith("as_token") for path in first)
    token = config.as_token_file.read_text(encoding="utf-8")
    assert prepare(config, ["secrets", "homeserver"], None) == []
    assert config.as_token_file.read_text(encoding="utf-8") == token


def test_secrets_are_readable_by_the_group_and_nobody_else(tmp_path: Path) -> None:
    config = _config(tmp_path / "state")
    group = grp.getgrgid(os.getgid()).gr_name
    prepare(config, ["secrets", "homeserver"], group)
    for path in (config.as_token_file, config.oidc_signing_key_file):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o640, (path, oct(mode))
        assert path.stat().st_gid == os.getgid()


def test_behind_a_proxy_the_client_listener_serves_federation(tmp_path: Path) -> None:
    config = _config(tmp_path / "state")
    prepare(config, ["secrets", "homeserver"], None)
    text = (config.state_dir / "homeserver" / "homeserver.yaml").read_text(encoding="utf-8")
    assert 'names: ["client", "openid", "federation"]' in text
    assert "x_forwarded: true" in text
    assert 'federation_domain_whitelist: ["other.test"]' in text


def test_what_the_running_components_write_is_not_a_change_made_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bots save their place every two seconds: a re-run while they do reports nothing
    (the converge test once saw «changed» on the databases task because of it)."""
    config = _config(tmp_path / "state")
    prepare(config, ["secrets", "homeserver"], None)
    books = config.state_dir / "bots"
    books.mkdir()
    (books / "meetings.db").write_bytes(b"before")
    real = deploy._secrets

    def secrets_while_the_bots_write(c: SchoolConfig) -> None:
        real(c)
        (books / "meetings.db").write_bytes(b"after")  # in the middle of prepare

    monkeypatch.setattr(deploy, "_secrets", secrets_while_the_bots_write)
    assert prepare(config, ["secrets", "homeserver"], None) == []
