"""A district's one export: three schools onto two homeservers (two on A, one on B), a school
moved from A to B, and the same export onto one shared server — real Synapses, `parta sync`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml

from appservice.diary_sync.layout import RoomKind, room_key, school_prefix
from appservice.store import Store
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from synthetic.district import generate_district, school_id
from synthetic.school import write_oneroster
from tests.integration.conftest import school_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ONE, TWO, THREE = school_id(1), school_id(2), school_id(3)
BRIDGE_TEACHER = SourcedId("s02-tch-001")  # teaches in schools 2 and 3 (the generator's)


def parta(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parta", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )


def sync_json(roster: Path, *configs: Path) -> dict[str, Any]:
    flags = [arg for c in configs for arg in ("-c", str(c))]
    done = parta("sync", str(roster), *flags, "--json")
    assert done.returncode == 0, done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def with_schools(stack: SchoolStack, schools: list[str], out: Path) -> Path:
    """A copy of the stack's parta.yaml hosting ``schools`` (the same server, state, ports)."""
    raw = yaml.safe_load(stack.config_path.read_text(encoding="utf-8"))
    raw["district"] = {"schools": schools}
    out.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return out


def schools_of(store: Store) -> set[str]:
    keys = store.room_ids()
    return {s for s in (ONE, TWO, THREE) if any(k.startswith(school_prefix(s)) for k in keys)}


def puppet(stack: SchoolStack, person: SourcedId) -> str:
    return f"@parta.{person}:{stack.config.server_name}"


def alias_resolves(stack: SchoolStack, school: SourcedId) -> bool:
    alias = f"#{room_key(school, RoomKind.SPACE)}:{stack.config.server_name}"
    answer = httpx.get(
        f"{stack.config.homeserver_url}/_matrix/client/v3/directory/room/{quote(alias, safe='')}",
        headers={"Authorization": f"Bearer {stack.config.as_token_file.read_text().strip()}"},
        timeout=30,
    )
    return answer.status_code == 200


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SchoolStack]]:
    state = tmp_path_factory.mktemp("district")
    with ExitStack() as running:
        yield {
            name: running.enter_context(
                SchoolStack.for_config(school_config(state / name), with_diary=False)
            )
            for name in ("a", "b", "shared")
        }


@pytest.fixture(scope="module")
def roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("district-roster") / "roster"
    write_oneroster(generate_district(3, 20, seed=5), out)
    return out


def test_three_schools_onto_two_servers_then_one_moves_and_nobody_is_switched_off(
    servers: dict[str, SchoolStack], roster: Path, tmp_path: Path
) -> None:
    a, b = servers["a"], servers["b"]
    a_yaml = with_schools(a, [ONE, TWO], tmp_path / "a.yaml")
    b_yaml = with_schools(b, [THREE], tmp_path / "b.yaml")

    # refused before anything changes: a school nobody hosts, a school claimed twice
    partial = with_schools(a, [ONE], tmp_path / "a-partial.yaml")
    refused = parta("sync", str(roster), "-c", str(partial), "-c", str(b_yaml))
    assert refused.returncode == 2
    assert "org-02" in refused.stderr
    assert "не назначена" in refused.stderr
    twice = with_schools(b, [TWO, THREE], tmp_path / "b-twice.yaml")
    refused = parta("sync", str(roster), "-c", str(a_yaml), "-c", str(twice))
    assert refused.returncode == 2
    assert "заявили два сервера" in refused.stderr
    store_a, store_b = a.open_store(), b.open_store()
    try:
        assert store_a.room_ids() == {}
        assert store_b.room_ids() == {}

        first = sync_json(roster, a_yaml, b_yaml)
        assert set(first["servers"]) == {a.config.server_name, b.config.server_name}
        assert first["total"]["failed"] == 0
        assert schools_of(store_a) == {ONE, TWO}
        assert schools_of(store_b) == {THREE}
        assert alias_resolves(a, TWO)
        assert not alias_resolves(a, THREE)
        assert alias_resolves(b, THREE)
        assert not alias_resolves(b, ONE)
        # a teacher of schools 2 and 3 has an account on each server
        assert puppet(a, BRIDGE_TEACHER) in store_a.puppets()
        assert puppet(b, BRIDGE_TEACHER) in store_b.puppets()

        again = sync_json(roster, a_yaml, b_yaml)
        assert again["total"]["writes"] == 0
        assert again["total"]["actions"] == 0
        # on A's host alone: A's two schools, the third left to B, nothing to do
        alone = parta("sync", str(roster), "-c", str(a_yaml), "--dry-run")
        assert alone.returncode == 0, alone.stderr
        assert f"Сервер {a.config.server_name} — школ: 2" in alone.stdout
        assert "План пуст" in alone.stdout
        assert "Школ других серверов пропущено (other servers' schools skipped): 1" in alone.stdout

        # school 2 moves from A to B: B builds it, A switches nobody of it off (its rooms on
        # A are left as they were, for the school's history)
        moved = (
            with_schools(a, [ONE], tmp_path / "a-moved.yaml"),
            with_schools(b, [TWO, THREE], tmp_path / "b-moved.yaml"),
        )
        sync_json(roster, *moved)
        assert schools_of(store_b) == {TWO, THREE}
        assert schools_of(store_a) == {ONE, TWO}
        assert sync_json(roster, *moved)["total"]["writes"] == 0
        assert store_a.departures() == {}
        assert store_b.departures() == {}
        head_of_two = SourcedId("s02-adm-1")
        assert puppet(b, head_of_two) in store_b.puppets()
        assert puppet(a, head_of_two) in store_a.puppets()  # still there, still working
    finally:
        store_a.close()
        store_b.close()
    diary_b = b.open_diary_store()
    try:
        loaded = diary_b.diary()
        assert loaded is not None
        assert set(loaded.schools) == {TWO, THREE}
    finally:
        diary_b.close()


def test_the_same_district_onto_one_shared_server(
    servers: dict[str, SchoolStack], roster: Path
) -> None:
    shared = servers["shared"]
    first = sync_json(roster, shared.config_path)
    assert first["failed"] == 0
    store = shared.open_store()
    try:
        assert schools_of(store) == {ONE, TWO, THREE}
        assert all(alias_resolves(shared, s) for s in (ONE, TWO, THREE))
        again = sync_json(roster, shared.config_path)
        assert again["writes"] == 0
        assert store.departures() == {}
    finally:
        store.close()
