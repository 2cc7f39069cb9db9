"""The school day's figures: percentiles per room kind and the knee, decided without I/O."""

from __future__ import annotations

import pytest

from parta.bench.day_stats import by_kind, knee, percentile, steps, summary


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.95, None),
        ([0.3], 0.5, 0.3),
        ([0.1, 0.2, 0.3, 0.4], 0.5, 0.2),
        ([float(k) for k in range(1, 101)], 0.95, 95.0),
        ([float(k) for k in range(100, 0, -1)], 0.99, 99.0),
        ([1.0, 2.0], 1.0, 2.0),
    ],
)
def test_percentile_is_the_nearest_rank(
    values: list[float], share: float, expected: float | None
) -> None:
    assert percentile(values, share) == expected


def test_summary_counts_and_rounds_to_milliseconds() -> None:
    assert summary([0.12345, 2.0, 0.5]) == {
        "count": 3,
        "p50_s": 0.5,
        "p95_s": 2.0,
        "p99_s": 2.0,
        "max_s": 2.0,
    }
    assert summary([])["p95_s"] is None


def test_latencies_are_grouped_by_the_kind_of_their_message_s_room() -> None:
    kinds = {"m0": "class", "m1": "parents", "a0": "announcements"}
    grouped = by_kind([("m0", 0.1), ("a0", 2.0), ("m0", 0.3), ("m1", 0.2)], kinds)
    assert grouped == {"class": [0.1, 0.3], "announcements": [2.0], "parents": [0.2]}


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(250, 0.2), (500, 0.4), (750, 0.9), (1000, 1.4)], 1000),
        ([(1000, 1.4), (250, 0.2), (500, 1.1)], 500),  # the order of the steps does not matter
        ([(250, 0.2), (500, 1.0)], None),  # 1 s itself is within the target
        ([(250, 0.2), (500, None)], 500),  # nothing delivered is past any limit
        ([], None),
    ],
)
def test_the_knee_is_the_first_client_count_past_one_second(
    points: list[tuple[int, float | None]], expected: int | None
) -> None:
    assert knee(points) == expected


@pytest.mark.parametrize(
    ("top", "count", "expected"),
    [(1000, 4, [250, 500, 750, 1000]), (20, 1, [20]), (3, 5, [1, 2, 3]), (1000, 0, [1000])],
)
def test_the_knee_is_searched_in_even_steps_up_to_the_top(
    top: int, count: int, expected: list[int]
) -> None:
    assert steps(top, count) == expected
