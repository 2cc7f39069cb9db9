"""The fault harness, a few rounds of every kind, on a school of its own (SQLite, and
PostgreSQL for a database restart).

Each round busies the school, kills a process with SIGKILL at a random point (or fills
the store's disk), restarts it and checks the invariants read from Synapse and the
stores (``parta.bench.faults_*``). ``parta bench faults --rounds 100`` runs the same
rounds longer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parta.bench.faults import all_kinds, run_rounds
from parta.bench.faults_stack import fault_stack, open_harness
from tests.integration.conftest import require_postgres

pytestmark = pytest.mark.integration

ROUNDS = 3
PG_KINDS = {"postgres-restart", "appservice-transactions"}


async def test_every_fault_kind_leaves_the_school_whole(tmp_path: Path) -> None:
    lines: list[str] = []
    with fault_stack(tmp_path / "school", "sqlite") as stack:
        async with open_harness(stack, tmp_path, seed=17, say=lines.append) as harness:
            report = await run_rounds(harness, all_kinds("sqlite"), ROUNDS, seed=17)
    print("\n".join(lines))
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
    figures = report.to_json()
    assert set(figures["by_kind"]) == set(all_kinds())
    assert figures["faults"] == ROUNDS * len(all_kinds())
    assert report.violations == 0, [e["failed"] for e in figures["by_kind"].values()]
    # the faults did land where they matter, not only after the work was done
    assert figures["by_kind"]["store-disk-full"]["in_window"] == ROUNDS
    syncs = ("appservice-sync", "synapse-sync")
    assert sum(figures["by_kind"][k]["in_window"] for k in syncs) > 0


@pytest.mark.postgres
async def test_a_postgresql_restart_under_load_is_ridden_out_by_every_component(
    tmp_path: Path,
) -> None:
    require_postgres()
    kinds = {k: f for k, f in all_kinds("postgres").items() if k in PG_KINDS}
    lines: list[str] = []
    with fault_stack(tmp_path / "school", "postgres") as stack:
        async with open_harness(stack, tmp_path, seed=5, say=lines.append) as harness:
            report = await run_rounds(harness, kinds, 2, seed=5)
    print("\n".join(lines))
    figures = report.to_json()
    assert set(figures["by_kind"]) == PG_KINDS
    assert report.violations == 0, [e["failed"] for e in figures["by_kind"].values()]
