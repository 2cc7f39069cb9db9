"""``parta bench calls`` runs end to end on a tiny class and prints every key it promises.

Not a performance test: the figures are the benchmark's business. What is checked is that
the benchmark still measures something real — the bridge delivered the frames it was sent,
the loudest voices were chosen, the baseline delivered some — and names it as documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "participants",
    "bridge_cpu_share",
    "bridge_rss_mb",
    "pps_in",
    "pps_out",
    "frames_delivered_ratio",
    "added_delay_ms_p50",
    "baseline_cpu_share",
    "baseline_frames_delivered_ratio",
    "ratio_vs_baseline",
)


def test_the_calls_benchmark_measures_a_small_class_and_its_baseline() -> None:
    run = subprocess.run(
        [
            *(sys.executable, "-m", "parta", "bench", "calls", "--participants", "5"),
            *("--warmup", "3", "--window", "3", "--no-compare", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(KEYS) <= set(result), sorted(set(KEYS) - set(result))
    assert result["participants"] == 5
    assert result["frames_expected"] > 0
    # the forwarder loses nothing on a machine this idle; the baseline delivers some
    assert result["frames_delivered_ratio"] >= 0.98, result
    assert result["baseline_frames_delivered_ratio"] > 0, result
    assert result["pps_out"] > result["pps_in"] > 0, result  # fanned out
    assert result["audio"]["voices_unmuted"] == 4
    assert result["audio"]["loudest_forwarded"] == 3  # of four voices, the loudest three
