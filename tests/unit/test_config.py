"""Configuration and secrets: clear refusals, nothing secret in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.config import ConfigError, load_config
from kernel.secrets import SecretError, ensure_secret_file, read_secret_file, same_secret

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_configuration_loads() -> None:
    config = load_config(ROOT / "parta.example.yaml")
    assert config.database.kind == "postgres"
    assert config.store_url().endswith("/parta_school14_appservice")
    assert config.diary.support.user_id == "@helpdesk:school14.example.org"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("server_name: s.example\nsurprise: 1\n", "surprise"),
        ("server_name: s.example\nsync: {concurrency: 0}\n", "sync.concurrency"),
        ("server_name: s.example\ndiary: {timezone: Mars/Olympus}\n", "diary.timezone"),
        ("server_name: s.example\nsafety: {quiet_hours: '22:00'}\n", "safety.quiet_hours"),
        ("server_name: 'bad name/x'\n", "server_name"),
        ("server_name: [unclosed\n", "not valid YAML"),
        (
            "server_name: s.example\ndiary: {support: {user_id: helpdesk}}\n",
            "diary.support.user_id",
        ),
    ],
)
def test_a_bad_configuration_names_the_file_and_the_key(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "parta.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(path) in str(refused.value)
    assert fragment in str(refused.value)


def test_a_secret_is_generated_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "token"
    first = ensure_secret_file(path)
    assert ensure_secret_file(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 32


@pytest.mark.parametrize("value", ["", "changeme", "short"])
def test_an_example_or_weak_secret_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "token"
    path.write_text(value, encoding="utf-8")
    with pytest.raises(SecretError):
        read_secret_file(path)


def test_secrets_compare_by_content() -> None:
    assert same_secret("a" * 20, "a" * 20)
    assert not same_secret("a" * 20, "a" * 19 + "b")
    assert not same_secret("", "a")


def test_component_fragments_beside_the_file_add_their_sections(tmp_path: Path) -> None:
    path = tmp_path / "parta.yaml"
    path.write_text("server_name: s.example\n", encoding="utf-8")
    (tmp_path / "parta.d").mkdir()
    (tmp_path / "parta.d" / "bots.yaml").write_text("bots: {poll_seconds: 3}\n", "utf-8")
    (tmp_path / "parta.d" / "diary.yaml").write_text("diary: {port: 8181}\n", "utf-8")
    config = load_config(path)
    assert (config.bots.poll_seconds, config.diary.port) == (3, 8181)


def test_a_section_set_twice_names_both_files(tmp_path: Path) -> None:
    path = tmp_path / "parta.yaml"
    path.write_text("server_name: s.example\nbots: {port: 9000}\n", encoding="utf-8")
    (tmp_path / "parta.d").mkdir()
    fragment = tmp_path / "parta.d" / "bots.yaml"
    fragment.write_text("bots: {poll_seconds: 3}\n", "utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(fragment) in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_bad_value_in_a_fragment_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "parta.yaml"
    path.write_text("server_name: s.example\n", encoding="utf-8")
    (tmp_path / "parta.d").mkdir()
    (tmp_path / "parta.d" / "bots.yaml").write_text("bots: {poll_seconds: -1}\n", "utf-8")
    with pytest.raises(ConfigError, match=r"bots\.poll_seconds"):
        load_config(path)
