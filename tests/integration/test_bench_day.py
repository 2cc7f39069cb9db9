"""``parta bench day`` runs a small school's day end to end and prints every key it promises.

Not a performance test: the figures are the benchmark's business. What is checked is that
it still measures something real — every message reached every client of its room, the
announcement reached the whole school, photos were uploaded, delivered and downloaded, the
poll's every answer reached its teacher, the lesson's people all joined the call — with no
errors, and that the keys are named as documented; the morning waited for Synapse's user
directory to read the school's sync (its real tables, on both databases). With ``--workers``
(PostgreSQL), the worker's own access log shows it served the clients' syncs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import require_postgres

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
    "workers",
    "synapse_processes",
    "photos",
    "photos_sent",
    "photos_delivered",
    "photos_fetched",
    "photo_delivery_p95_s",
    "photo_fetch_p95_s",
    "photo_upload_p95_s",
    "photo_bytes",
    "poll_voters",
    "poll_answers",
    "poll_answers_sent",
    "poll_all_answers_s",
    "settle_s",
    "settled",
)


def _day(tmp_path: Path, clients: int, *extra: str, timeout: float = 240) -> dict[str, Any]:
    run = subprocess.run(
        [
            *(sys.executable, "-m", "parta", "bench", "day", "--clients", str(clients)),
            *("--day", "8", "--morning", "2", "--rate", "3", "--drain", "30"),
            *("--state", str(tmp_path), "--json", *extra),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_a_small_school_s_day_reaches_every_client_without_errors(tmp_path: Path) -> None:
    result = _day(tmp_path, CLIENTS, "--photo-every", "6")
    assert set(KEYS) <= set(result), sorted(set(KEYS) - set(result))
    assert result["clients"] == CLIENTS
    assert result["database"] == "sqlite"
    assert result["settled"] is True  # Synapse's user directory read the whole sync first
    assert result["errors"] == 0, result["errors_by_kind"]
    assert result["sent"] == result["messages"] > 1
    assert result["delivered"] == result["expected"] > result["messages"]
    # the announcement reached every client but its sender
    assert result["delivery_by_room"]["announcements"]["count"] == CLIENTS - 1
    assert result["delivery_p95_s"] is not None
    assert result["lesson_joined"] == result["lesson_people"] > 1
    assert result["cpu_share"]["synapse"] > 0
    assert result["workers"] == 0
    assert set(result["synapse_processes"]) == {"main"}
    # photos: uploaded, sent, seen by every recipient, downloaded whole by each
    assert result["photos"] == result["photos_sent"] >= 3
    assert result["photos_delivered"] == result["delivery_by_room"]["photos"]["count"] > 0
    assert result["photos_fetched"] == result["photos_delivered"]
    assert result["photo_fetch_p95_s"] >= result["photo_delivery_p95_s"] > 0
    assert 20_000 < result["photo_bytes"] < 60_000
    # the poll: every student client of the class answered, and its teacher saw each answer
    assert result["poll_voters"] > 1
    assert result["poll_answers"] == result["poll_answers_sent"] == result["poll_voters"]
    assert result["poll_all_answers_s"] > 0


@pytest.mark.postgres
def test_the_workers_serve_the_clients_syncs(tmp_path: Path) -> None:
    """One generic worker: the clients' syncs go to it, the sends to main."""
    require_postgres()
    result = _day(tmp_path, CLIENTS, "--database", "postgres", "--workers", "1", "--no-lesson")
    assert result["workers"] == 1
    assert result["database"] == "postgres"
    assert result["settled"] is True
    assert result["errors"] == 0, result["errors_by_kind"]
    assert result["delivered"] == result["expected"] > result["messages"]
    assert result["poll_answers"] == result["poll_voters"] > 0
    worker = result["synapse_processes"]["generic1"]
    assert worker["cpu_share"] > 0
    assert worker["rss_mb"] > 0
    assert result["synapse_cpu_share"] == pytest.approx(
        result["synapse_processes"]["main"]["cpu_share"] + worker["cpu_share"], abs=0.002
    )
    # the worker's own access log (read from its state, not from the benchmark's report)
    logs = tmp_path / "day-postgres" / "homeserver"
    worker_log = (logs / "homeserver-generic1.log").read_text(encoding="utf-8")
    main_log = (logs / "homeserver.log").read_text(encoding="utf-8")
    client_syncs = re.compile(r"GET /_matrix/client/v3/sync\?filter=%7B%22room%22")
    assert len(client_syncs.findall(worker_log)) >= CLIENTS  # a first sync each, at least
    assert client_syncs.search(main_log) is None
    assert re.search(r"PUT /_matrix/client/v3/rooms/[^ ]+/send/", worker_log) is None
    assert re.search(r"PUT /_matrix/client/v3/rooms/[^ ]+/send/", main_log) is not None


def test_a_lever_is_weighed_between_two_runs_without_it(tmp_path: Path) -> None:
    """``--lever gc``: three days on one school, Synapse started anew for each, rendered with
    the collector's pace for the middle one only."""
    quiet = ("--no-lesson", "--no-poll", "--photo-every", "0")
    result = _day(tmp_path, 10, "--lever", "gc", *quiet, timeout=400)
    [weighed] = result["lever"]
    assert weighed["lever"] == "gc"
    assert weighed["clients"] == 10
    p95 = weighed["delivery_p95_s"]
    assert p95["baseline"] > 0
    assert p95["lever"] > 0
    assert p95["baseline_again"] > 0
    assert p95["ratio"] == pytest.approx(
        p95["lever"] / ((p95["baseline"] + p95["baseline_again"]) / 2), abs=0.001
    )
    assert weighed["errors"] == {"baseline": 0, "lever": 0, "baseline_again": 0, "ratio": None}
    assert result["variant"] == "baseline-gc"
    assert [r["variant"] for r in result["steps"]] == ["baseline", "lever-gc", "baseline-gc"]
    assert result["delivered"] == result["expected"] > 0
    # Synapse was started anew for each run (its process, read by the benchmark from /proc)
    pids = weighed["synapse_pid"]
    assert len(set(pids.values())) == 3, pids
    # and left as configured: the collector's pace is not in the school's Synapse config
    config = (tmp_path / "day-sqlite" / "homeserver" / "homeserver.yaml").read_text()
    assert "gc_min_interval" not in config
