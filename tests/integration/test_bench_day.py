"""``parta bench day`` runs a small school's day end to end and prints every key it promises.

Not a performance test: the figures are the benchmark's business. What is checked is that
it still measures something real — every message reached every client of its room, the
announcement reached the whole school, the lesson's people all joined the call — with no
errors, and that the keys are named as documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 20
KEYS = (
    "clients",
    "database",
    "messages",
    "sent",
    "expected",
    "delivered",
    "delivery_p50_s",
    "delivery_p95_s",
    "delivery_p99_s",
    "delivery_max_s",
    "delivery_by_room",
    "announcement_p95_s",
    "first_sync_p50_s",
    "first_sync_p95_s",
    "lesson_join_all_s",
    "errors",
    "errors_by_kind",
    "synapse_cpu_share",
    "cpu_share",
    "synapse_rss_mb",
)


def test_a_small_school_s_day_reaches_every_client_without_errors(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            *(sys.executable, "-m", "parta", "bench", "day", "--clients", str(CLIENTS)),
            *("--day", "8", "--morning", "2", "--rate", "3", "--drain", "30"),
            *("--state", str(tmp_path), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(KEYS) <= set(result), sorted(set(KEYS) - set(result))
    assert result["clients"] == CLIENTS
    assert result["database"] == "sqlite"
    assert result["errors"] == 0, result["errors_by_kind"]
    assert result["sent"] == result["messages"] > 1
    assert result["delivered"] == result["expected"] > result["messages"]
    # the announcement reached every client but its sender
    assert result["delivery_by_room"]["announcements"]["count"] == CLIENTS - 1
    assert result["delivery_p95_s"] is not None
    assert result["lesson_joined"] == result["lesson_people"] > 1
    assert result["cpu_share"]["synapse"] > 0
