"""The school day's figures, decided without I/O: percentiles per room kind, and the knee.

Delivery is counted per (message, recipient): a message in a room of 30 clients is 29
deliveries. Latencies are in seconds, from the sender's clock to the recipient's ``/sync``
returning the event (both on this machine's wall clock).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

KNEE_P95_S = 1.0
"""The knee: the client count at which p95 delivery in a class first passes this."""


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summary(latencies: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99 and max, rounded to milliseconds."""

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "count": len(latencies),
        "p50_s": r(percentile(latencies, 0.50)),
        "p95_s": r(percentile(latencies, 0.95)),
        "p99_s": r(percentile(latencies, 0.99)),
        "max_s": r(max(latencies) if latencies else None),
    }


def by_kind(
    deliveries: Iterable[tuple[str, float]], kind_of: Mapping[str, str]
) -> dict[str, list[float]]:
    """Latencies grouped by the kind of room each message (by id) was sent to."""
    grouped: dict[str, list[float]] = {}
    for message, latency in deliveries:
        grouped.setdefault(kind_of[message], []).append(latency)
    return grouped


def knee(points: Iterable[tuple[int, float | None]], limit_s: float = KNEE_P95_S) -> int | None:
    """The smallest client count whose p95 delivery passed ``limit_s`` (None: never did).

    A step that delivered nothing (p95 None) counts as past the limit: it is broken.
    """
    for clients, p95 in sorted(points):
        if p95 is None or p95 > limit_s:
            return clients
    return None


def steps(top: int, count: int) -> list[int]:
    """``count`` client counts evenly up to ``top`` (the knee's search), each at least 1."""
    if count <= 1:
        return [top]
    return sorted({max(1, round(top * k / count)) for k in range(1, count + 1)})
