"""The diary's own metrics (the request counters are :mod:`kernel.metrics`')."""

from __future__ import annotations

from prometheus_client import Counter

LOGINS = Counter(
    "parta_diary_logins",
    "Sign-in attempts: via the diary's page or a Matrix password login; ok, wrong or throttled",
    ["via", "result"],
)
for _via in ("diary", "matrix"):
    for _result in ("ok", "wrong", "throttled"):
        LOGINS.labels(_via, _result)
