"""``parta bench day --lever``: what each lever changes, and how three runs are weighed."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from parta.bench import day
from parta.bench.day_lever import LEVERS, lever_names, weigh, with_lever
from parta.cli import _parser


def _run(p95: float, cls: float, errors: int, cpu: float) -> dict[str, Any]:
    return {
        "clients": 500,
        "delivery_p50_s": p95 / 2,
        "delivery_p95_s": p95,
        "announcement_p95_s": None,
        "first_sync_p95_s": 40.0,
        "errors": errors,
        "synapse_cpu_share": cpu,
        "synapse_rss_peak_mb": 500.0,
        "delivery_by_room": {"class": {"p95_s": cls}, "parents": {"p95_s": 2 * cls}},
    }


def test_the_lever_is_weighed_against_the_mean_of_the_runs_around_it() -> None:
    weighed = weigh("wakeups", _run(40, 30, 0, 0.8), _run(20, 12, 3, 0.5), _run(60, 50, 0, 0.7))
    assert weighed["lever"] == "wakeups"
    assert weighed["clients"] == 500
    assert weighed["delivery_p95_s"] == {
        "baseline": 40,
        "lever": 20,
        "baseline_again": 60,
        "ratio": 0.4,
    }
    assert weighed["class_p95_s"]["ratio"] == 0.3
    assert weighed["parents_p95_s"]["lever"] == 24
    assert weighed["synapse_cpu_share"]["ratio"] == 0.667
    # nothing to divide by, or a figure missing from a run: no ratio, not a made-up one
    assert weighed["errors"]["ratio"] is None
    assert weighed["announcement_p95_s"]["ratio"] is None


def test_a_lever_changes_the_day_s_arguments_and_nothing_else() -> None:
    args = argparse.Namespace(receipts=0.3, no_typing=False, clients=500)
    quiet = with_lever(args, LEVERS["wakeups"])
    assert (quiet.receipts, quiet.no_typing, quiet.clients) == (0.0, True, 500)
    assert (args.receipts, args.no_typing) == (0.3, False)  # the baseline's stay as asked
    assert vars(with_lever(args, LEVERS["gc"])) == vars(args)
    assert LEVERS["gc"].homeserver == {"gc_min_interval": ("1s", "60s", "10m")}
    assert LEVERS["caches"].homeserver == {"cache_factor": 4.0}


def test_levers_are_named_on_the_command_line_and_an_unknown_one_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _parser().parse_args(["bench", "day", "--lever", "gc,wakeups"])
    assert lever_names(args.lever) == ["gc", "wakeups"]
    assert lever_names(None) == []
    refused = argparse.Namespace(workers=0, database="sqlite", lever="wakeups,cache")
    assert day.main(refused) == 2  # before anything starts
    assert "unknown lever 'cache'; known: caches, gc, wakeups" in capsys.readouterr().err


@pytest.mark.parametrize("levers", ["wakeups,gc", "caches"])
def test_a_lever_that_restarts_synapse_with_workers_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], levers: str
) -> None:
    args = argparse.Namespace(workers=2, database="postgres", lever=levers)
    assert day.main(args) == 2
    assert "restart Synapse's main process only" in capsys.readouterr().err


async def test_each_lever_runs_between_two_baselines_and_synapse_is_paced_for_its_run_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The order of ``--lever gc,wakeups`` on one school: what each run was given."""
    ran: list[tuple[str, float, bool]] = []
    paced: list[object] = []

    async def run_day(stack: object, school: object, n: int, workers: object, args: Any) -> Any:
        ran.append((args.variant, args.receipts, args.no_typing))
        return _run(10.0 + len(ran), 5.0, 0, 0.5)

    monkeypatch.setattr(day, "run_day", run_day)
    monkeypatch.setattr(day, "restart_synapse", lambda stack, gc: paced.append(gc))
    args = argparse.Namespace(lever="gc,wakeups", receipts=0.3, no_typing=False)
    done, found = await day._weigh(object(), object(), 500, None, args)  # type: ignore[arg-type]
    assert ran == [
        ("baseline", 0.3, False),
        ("lever-gc", 0.3, False),
        ("baseline-gc", 0.3, False),
        ("lever-wakeups", 0.0, True),
        ("baseline-wakeups", 0.3, False),
    ]
    assert [r["variant"] for r in done] == [v for v, _r, _t in ran]
    # Synapse is started anew before every run (all begin cold), paced for the gc run only
    assert paced == [{}, {"gc_min_interval": ("1s", "60s", "10m")}, {}, {}, {}]
    assert [w["lever"] for w in found] == ["gc", "wakeups"]
    assert found[0]["delivery_p95_s"]["baseline"] == 11.0
    assert found[0]["delivery_p95_s"]["lever"] == 12.0
    assert found[1]["delivery_p95_s"]["baseline"] == 13.0  # the run before it, not the first
