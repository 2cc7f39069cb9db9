"""The appservice's metrics: transactions from the homeserver, syncs, links, and what its
store knows at scrape time (the last whole-school sync, whoever ran it: ``parta sync`` runs
in its own process, so its figures are read from the store, not counted here).

No label carries a person, a room or a transaction id.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from appservice.store import DIARY_SNAPSHOT, LAST_SYNC, Store
from kernel import tls

CERTIFICATES_EVERY_S = 3600.0

TRANSACTIONS = Counter(
    "parta_appservice_transactions",
    "Transactions the homeserver pushed: new (stored, then acknowledged) or replayed",
    ["result"],
)
EVENTS = Counter(
    "parta_appservice_events",
    "Events received in new transactions: stored, or rejected as malformed (kept aside)",
    ["result"],
)
EVENT_LAG = Histogram(
    "parta_appservice_event_lag_seconds",
    "From an event's origin_server_ts to its transaction reaching the appservice",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
SYNC_RUNS = Counter(
    "parta_appservice_sync_runs",
    "Syncs run in this process: the whole school or one person's link; ok, failed or error",
    ["scope", "result"],
)
SYNC_ACTIONS = Counter(
    "parta_appservice_sync_actions",
    "Actions of syncs run in this process: done or failed",
    ["result"],
)
LINKS = Counter(
    "parta_appservice_links",
    "Diary people linked to a Matrix account: ok, refused (no such person, a rule) or failed",
    ["result"],
)
for _result in ("new", "replayed"):
    TRANSACTIONS.labels(_result)
for _result in ("stored", "rejected"):
    EVENTS.labels(_result)
for _result in ("ok", "refused", "failed"):
    LINKS.labels(_result)


def observe_transaction(new: bool, raw: Sequence[object], stored: int, rejected: int) -> None:
    TRANSACTIONS.labels("new" if new else "replayed").inc()
    if not new:
        return
    EVENTS.labels("stored").inc(stored)
    EVENTS.labels("rejected").inc(rejected)
    now_ms = time.time() * 1000
    for event in raw:
        sent = event.get("origin_server_ts") if isinstance(event, dict) else None
        if isinstance(sent, int) and not isinstance(sent, bool):
            EVENT_LAG.observe(max(0.0, (now_ms - sent) / 1000))


def observe_sync(scope: str, actions: int, failed: int | None) -> None:
    """``failed`` None: the sync raised before or while applying its plan."""
    result = "error" if failed is None else ("failed" if failed else "ok")
    SYNC_RUNS.labels(scope, result).inc()
    if failed is not None:
        SYNC_ACTIONS.labels("done").inc(actions - failed)
        SYNC_ACTIONS.labels("failed").inc(failed)


def link_result(status: int) -> str:
    return "ok" if status == 200 else "failed" if status >= 500 else "refused"


class StoreCollector(Collector):
    """Gauges read at each scrape: from the store, the state folder's disk, and (once an hour)
    the certificates the school serves."""

    def __init__(
        self,
        store: Store,
        state_dir: Path | None = None,
        endpoints: Sequence[tuple[str, int]] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._state_dir, self._endpoints = store, state_dir, tuple(endpoints)
        self._clock = clock
        self._expiry: dict[tuple[str, int], float] = {}
        self._read_at: float | None = None
        self._people_generation: int | None = None
        self._people_ids: frozenset[str] = frozenset()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        last: Mapping[str, Any] = self._store.snapshot(LAST_SYNC) or {}
        facts = (
            ("finished_timestamp_seconds", "When the last whole-school sync ended", "finished_s"),
            ("actions", "Actions the last whole-school sync planned", "actions"),
            ("failures", "Actions the last whole-school sync could not do", "failed"),
            ("duration_seconds", "How long the last whole-school sync took", "total_s"),
        )
        for name, text, key in facts:
            family = GaugeMetricFamily(f"parta_appservice_last_sync_{name}", text)
            if key in last:
                family.add_metric([], float(last[key]))
            yield family
        people = GaugeMetricFamily(
            "parta_appservice_people",
            "The diary's people at the last sync: linked to a Matrix account, or not yet",
            labels=["linked"],
        )
        everybody = self._people()
        if everybody:
            linked = len(everybody & self._store.linked())
            people.add_metric(["true"], float(linked))
            people.add_metric(["false"], float(len(everybody) - linked))
        yield people
        if self._state_dir is not None:
            usage = shutil.disk_usage(self._state_dir)
            yield GaugeMetricFamily(
                "parta_appservice_state_disk_used_ratio",
                "How full the disk holding the school's state folder is (0–1)",
                value=usage.used / usage.total if usage.total else 0.0,
            )
        if self._endpoints:
            certificates = GaugeMetricFamily(
                "parta_appservice_certificate_expiry_timestamp_seconds",
                "When each TLS certificate the school serves expires (0: nobody answers there)",
                labels=["endpoint"],
            )
            for (host, port), ends in self._certificates().items():
                certificates.add_metric([f"{host}:{port}"], ends)
            yield certificates

    def _people(self) -> frozenset[str]:
        """The diary's people, read again only when the store's diary has changed."""
        generation = self._store.generations()[0]
        if generation != self._people_generation:
            stored = self._store.snapshot(DIARY_SNAPSHOT) or {}
            self._people_ids = frozenset(
                str(p["id"]) for p in stored.get("people", []) if isinstance(p, dict) and "id" in p
            )
            self._people_generation = generation
        return self._people_ids

    def _certificates(self) -> dict[tuple[str, int], float]:
        now = self._clock()
        if self._read_at is None or now - self._read_at > CERTIFICATES_EVERY_S:
            for host, port in self._endpoints:
                try:
                    self._expiry[(host, port)] = tls.expiry(host, port).timestamp()
                except tls.NoCertificate:
                    self._expiry[(host, port)] = 0.0
            self._read_at = now
        return self._expiry
