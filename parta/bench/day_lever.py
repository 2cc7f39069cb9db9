"""``parta bench day --lever L``: one change weighed against the same day without it.

::

    one school, synced and settled once
      ─▶ the day as asked (baseline) ─▶ the day with the lever ─▶ the day as asked again
         (``--lever gc,wakeups``: … ─▶ the second lever ─▶ the day as asked again)
      ─▶ each figure: the baselines around the lever, the lever, and the lever over the
         baselines' mean

Two baselines around the lever show how much a figure moves on its own (the school's
history grows with each run, the machine's caches warm): a ratio inside that spread is
no effect. A lever that changes Synapse's configuration restarts Synapse before each of
the runs, so that all begin with the same cold caches.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from homeserver.render import render_homeserver
from parta.stack import SchoolStack, homeserver_settings


@dataclass(frozen=True)
class Lever:
    what: str
    args: dict[str, Any] = field(default_factory=dict)
    """The day's own arguments changed (fewer receipts, say)."""
    homeserver: dict[str, Any] = field(default_factory=dict)
    """``homeserver.*`` settings of ``parta.yaml`` changed: Synapse is rendered with them and
    started anew for the lever's run."""


LEVERS = {
    "wakeups": Lever(
        "fewer wake-ups: no typing notices and no read receipts (each wakes every member's "
        "long poll in the room)",
        args={"receipts": 0.0, "no_typing": True},
    ),
    "gc": Lever(
        "Synapse's garbage collector at most every 60 s over generation 1 and every 10 min "
        "over generation 2 (Synapse's own: 10 s and 30 s)",
        homeserver={"gc_min_interval": ("1s", "60s", "10m")},
    ),
    "caches": Lever(
        "Synapse's caches 8 times their default size (caches.global_factor 4.0; Synapse's "
        "own: 0.5)",
        homeserver={"cache_factor": 4.0},
    ),
}

FIGURES = (
    "delivery_p50_s",
    "delivery_p95_s",
    "announcement_p95_s",
    "first_sync_p95_s",
    "errors",
    "synapse_cpu_share",
    "synapse_rss_peak_mb",
)
NOTED = ("synapse_pid",)
"""Kept for each run, never divided: Synapse's main process (a lever that restarts Synapse
shows three)."""
ROOMS = ("class", "parents")
"""The chats whose p95 is weighed apart (``delivery_by_room``)."""


def lever_names(text: str | None) -> list[str]:
    """``--lever gc,wakeups`` → ``["gc", "wakeups"]``; an unknown name is refused."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in LEVERS]
    if unknown:
        raise ValueError(f"unknown lever {unknown[0]!r}; known: {', '.join(sorted(LEVERS))}")
    return names


def with_lever(args: argparse.Namespace, lever: Lever) -> argparse.Namespace:
    return argparse.Namespace(**(vars(args) | lever.args))


def restart_synapse(stack: SchoolStack, homeserver: dict[str, Any]) -> None:
    """Synapse again, rendered from the school's own configuration with ``homeserver``'s
    settings changed (empty: as configured)."""
    changed = stack.config.homeserver.model_copy(update=homeserver)
    config = stack.config.model_copy(update={"homeserver": changed})
    stack.rendered = render_homeserver(homeserver_settings(config, stack.with_diary))
    synapse = stack.synapse
    if synapse is None:
        raise RuntimeError("the stack's Synapse is not running")
    synapse.stop()
    synapse.start()
    synapse.wait_ready()


def weigh(
    name: str, first: dict[str, Any], lever: dict[str, Any], again: dict[str, Any]
) -> dict[str, Any]:
    """Each figure of the three runs, and the lever's over the two baselines' mean."""
    runs = (first, lever, again)
    picked: dict[str, list[object]] = {k: [r.get(k) for r in runs] for k in FIGURES}
    for room in ROOMS:
        picked[f"{room}_p95_s"] = [_room_p95(r, room) for r in runs]
    out: dict[str, Any] = {"lever": name, "what": LEVERS[name].what, "clients": first["clients"]}
    for key, (a, b, c) in picked.items():
        out[key] = {"baseline": a, "lever": b, "baseline_again": c, "ratio": _ratio(b, a, c)}
    variants = ("baseline", "lever", "baseline_again")
    for key in NOTED:
        out[key] = {v: r.get(key) for v, r in zip(variants, runs, strict=True)}
    return out


def _room_p95(run: dict[str, Any], room: str) -> float | None:
    found = run.get("delivery_by_room", {}).get(room, {}).get("p95_s")
    return float(found) if isinstance(found, int | float) else None


def _ratio(lever: object, *baselines: object) -> float | None:
    numbers = [float(b) for b in baselines if isinstance(b, int | float)]
    if not isinstance(lever, int | float) or len(numbers) != len(baselines):
        return None
    mean = sum(numbers) / len(numbers)
    return round(float(lever) / mean, 3) if mean else None
