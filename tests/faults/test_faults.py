"""The fault harness, a few rounds of every kind, on a school of its own (SQLite).

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

pytestmark = pytest.mark.integration

ROUNDS = 3


async def test_every_fault_kind_leaves_the_school_whole(tmp_path: Path) -> None:
    lines: list[str] = []
    with fault_stack(tmp_path / "school", "sqlite") as stack:
        async with open_harness(stack, tmp_path, seed=17, say=lines.append) as harness:
            report = await run_rounds(harness, all_kinds(), ROUNDS, seed=17)
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
