"""The figures of one step of ``parta bench day``, from the load generators' reports.

::

    reports (one per generator: deliveries, photo downloads, uploads, the poll's tally,
    first syncs, errors) + the plan's messages + CPU shares
      ─▶ chatter (class and parents' chats), the announcement, photos apart, the poll,
         Synapse's processes (main and workers) apart and together

No I/O: the caller reads ``/proc``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from parta.bench.day_school import ANNOUNCEMENTS
from parta.bench.day_stats import by_kind, percentile, summary

PHOTOS = "photos"
"""The kind photos are grouped under, whatever the room (their latency includes the upload)."""


def figures(
    n: int, messages: list[dict[str, Any]], reports: list[dict[str, Any]], cpu: dict[str, float]
) -> dict[str, Any]:
    kind_of = {str(m["id"]): PHOTOS if m.get("photo") else str(m["kind"]) for m in messages}
    deliveries = [(str(m), float(s)) for r in reports for m, s in r["deliveries"]]
    grouped = by_kind(deliveries, kind_of)
    chatter = [
        s for k, values in grouped.items() if k not in (ANNOUNCEMENTS, PHOTOS) for s in values
    ]
    first = [float(s) for r in reports for s in r["first_sync_s"]]
    errors: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    for r in reports:
        errors.update(r["errors"])
        retries.update(r["retries"])
    chat = summary(chatter)
    return {
        "clients": n,
        "messages": len(messages),
        "sent": sum(int(r["sent"]) for r in reports),
        "expected": sum(int(r["expected"]) for r in reports),
        "delivered": sum(int(r["delivered"]) for r in reports),
        "delivery_p50_s": chat["p50_s"],
        "delivery_p95_s": chat["p95_s"],
        "delivery_p99_s": chat["p99_s"],
        "delivery_max_s": chat["max_s"],
        "delivery_by_room": {k: summary(v) for k, v in sorted(grouped.items())},
        "announcement_p95_s": summary(grouped.get(ANNOUNCEMENTS, []))["p95_s"],
        **photo_figures(messages, reports, kind_of),
        **poll_figures(reports),
        "first_sync_p50_s": _r(percentile(first, 0.5)),
        "first_sync_p95_s": _r(percentile(first, 0.95)),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "retries_by_kind": dict(retries),
        "synapse_cpu_share": round(cpu.get("synapse", 0.0) + cpu.get("synapse_workers", 0.0), 3),
        "cpu_share": cpu,
    }


def photo_figures(
    messages: list[dict[str, Any]], reports: list[dict[str, Any]], kind_of: dict[str, str]
) -> dict[str, Any]:
    """Photos sent, seen in /sync (from the tap: upload and send), and downloaded."""
    seen = [float(s) for r in reports for m, s in r["deliveries"] if kind_of[str(m)] == PHOTOS]
    fetched = [float(s) for r in reports for _m, s in r.get("fetches", [])]
    uploads = [float(s) for r in reports for s in r.get("uploads", [])]
    return {
        "photos": sum(1 for m in messages if m.get("photo")),
        "photos_sent": sum(int(r.get("photos_sent", 0)) for r in reports),
        "photos_delivered": len(seen),
        "photos_fetched": len(fetched),
        "photo_delivery_p50_s": _r(percentile(seen, 0.5)),
        "photo_delivery_p95_s": _r(percentile(seen, 0.95)),
        "photo_fetch_p95_s": _r(percentile(fetched, 0.95)),
        "photo_upload_p95_s": _r(percentile(uploads, 0.95)),
    }


def poll_figures(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The teacher's generator has the tally; every generator's voters sent answers."""
    tallies = [r["poll"] for r in reports if r.get("poll") is not None]
    tally = tallies[0] if tallies else {"voters": 0, "answers": 0, "all_answers_s": None}
    return {
        "poll_voters": tally["voters"],
        "poll_answers_sent": sum(int(r.get("poll_answers_sent", 0)) for r in reports),
        "poll_answers": tally["answers"],
        "poll_all_answers_s": tally["all_answers_s"],
    }


def synapse_processes(
    cpu: dict[str, float], rss: dict[str, tuple[float, float]]
) -> dict[str, dict[str, float]]:
    """Each Synapse process (``main``, ``generic1``…): CPU share, RSS and peak RSS (MiB)."""
    return {
        name: {
            "cpu_share": cpu.get(name, 0.0),
            "rss_mb": round(now, 1),
            "rss_peak_mb": round(peak, 1),
        }
        for name, (now, peak) in rss.items()
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
