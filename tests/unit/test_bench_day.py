"""The school day's parts decided without I/O: percentiles per room kind and the knee, the
reverse proxy's routing to Synapse's workers, the photo, the poll and the report."""

from __future__ import annotations

import argparse
import io
import struct
import zlib

import pytest

from kernel.ids import UserID
from parta.bench import day
from parta.bench.day_media import PNG_SIGNATURE, SIDE, download_path, image_content, intact, png
from parta.bench.day_poll import (
    POLL_KEY,
    POLL_RESPONSE,
    POLL_START,
    Tally,
    is_ours,
    response_content,
    start_content,
)
from parta.bench.day_report import figures, synapse_processes
from parta.bench.day_route import base_for, pick
from parta.bench.day_school import Room, School, day_messages, day_poll
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


# --- the reverse proxy's routing the load generators play (parta.bench.day_route) ---------

MAIN = "http://127.0.0.1:8008"
WORKERS = ["http://127.0.0.1:8101", "http://127.0.0.1:8102"]


@pytest.mark.parametrize(
    "path",
    [
        "/_matrix/client/v3/sync",
        "/_matrix/client/r0/sync",
        "/_matrix/client/v3/rooms/!a:s/context/$e",
        "/_matrix/client/v3/rooms/!a:s/members",
        "/_matrix/client/v3/rooms/!a:s/state",
        "/_matrix/client/v1/rooms/!a:s/relations/$e/m.reference/m.poll.response",
        "/_matrix/client/v3/joined_rooms",
    ],
)
def test_reads_go_to_the_user_s_own_worker(path: str) -> None:
    chosen = base_for("GET", path, "@parta_s1:school", MAIN, WORKERS)
    assert chosen == WORKERS[pick("@parta_s1:school", 2)]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/_matrix/client/v3/rooms/!a:s/send/m.room.message/t1"),
        ("POST", "/_matrix/client/v3/rooms/!a:s/receipt/m.read/$e"),
        ("PUT", "/_matrix/client/v3/rooms/!a:s/typing/@u:s"),
        ("PUT", "/_matrix/client/v3/rooms/!a:s/state/m.room.name/"),
        ("POST", "/_matrix/media/v3/upload"),
        ("GET", "/_matrix/client/v1/media/download/s/abc"),
        ("POST", "/_matrix/client/v3/login"),
        ("POST", "/_matrix/client/v3/user/@u:s/openid/request_token"),
    ],
)
def test_writes_media_and_the_rest_stay_on_main(method: str, path: str) -> None:
    assert base_for(method, path, "@parta_s1:school", MAIN, WORKERS) == MAIN


def test_without_workers_everything_goes_to_main() -> None:
    assert base_for("GET", "/_matrix/client/v3/sync", "@u:s", MAIN, []) == MAIN


def test_a_room_s_paginations_share_one_worker_whoever_asks() -> None:
    path = "/_matrix/client/v3/rooms/%21class%3Aschool/messages"
    chosen = {base_for("GET", path, f"@parta_{k}:school", MAIN, WORKERS) for k in range(40)}
    assert chosen == {WORKERS[pick("!class:school", 2)]}


def test_the_pick_is_stable_and_spreads_users() -> None:
    users = [f"@parta_s{k}:localhost:8008" for k in range(1000)]
    picks = [pick(u, 2) for u in users]
    assert picks == [pick(u, 2) for u in users]  # no per-process salt (CRC-32, not hash())
    assert pick("@parta_s1:school", 2) == zlib.crc32(b"@parta_s1:school") % 2
    assert 400 < picks.count(0) < 600
    assert {pick(u, 3) for u in users} == {0, 1, 2}


# --- photos (parta.bench.day_media) -------------------------------------------------------


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks, each CRC checked."""
    out, at = [], len(PNG_SIGNATURE)
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        (crc,) = struct.unpack(">I", data[at + 8 + size : at + 12 + size])
        assert crc == zlib.crc32(kind + body), kind
        out.append((kind, body))
        at += 12 + size
    return out


def test_the_photo_is_a_valid_png_of_tens_of_kilobytes() -> None:
    data = png(7)
    assert data.startswith(PNG_SIGNATURE)
    chunks = _chunks(data)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, colour) == (SIDE, SIDE, 8, 2)
    rows = zlib.decompress(chunks[1][1])
    assert len(rows) == SIDE * (1 + 3 * SIDE)
    assert all(rows[r * (1 + 3 * SIDE)] == 0 for r in range(SIDE))  # each row: filter none
    assert 20_000 < len(data) < 60_000
    assert png(7) == data
    assert png(8) != data


def test_an_image_library_reads_the_photo() -> None:
    image_module = pytest.importorskip("PIL.Image")  # Synapse's own dependency, not ours
    with image_module.open(io.BytesIO(png(3, side=16))) as image:
        image.load()
        assert image.size == (16, 16)
        assert image.mode == "RGB"


def test_the_image_event_names_the_upload_and_its_size() -> None:
    content = image_content("mxc://localhost:8008/AbC", 37_700)
    assert content["msgtype"] == "m.image"
    assert content["url"] == "mxc://localhost:8008/AbC"
    assert content["info"] == {"mimetype": "image/png", "size": 37_700, "w": SIDE, "h": SIDE}
    assert download_path("mxc://localhost:8008/AbC") == (
        "/_matrix/client/v1/media/download/localhost:8008/AbC"
    )
    with pytest.raises(ValueError, match="not a Matrix content URI"):
        download_path("https://example.org/a.png")


def test_a_download_is_intact_only_with_the_named_size_and_a_png_signature() -> None:
    data = png(1)
    content = image_content("mxc://s/a", len(data))
    assert intact(content, data)
    assert not intact(content, data[:-1])
    assert not intact(content, b"x" * len(data))
    assert not intact({"url": "mxc://s/a"}, data)


# --- the poll (parta.bench.day_poll) ------------------------------------------------------


def test_the_poll_start_is_msc3381_content_with_a_fallback() -> None:
    content = start_content("n20-x-poll")
    poll = content["m.poll"]
    assert poll["kind"] == "m.poll.disclosed"
    assert poll["max_selections"] == 1
    assert [a["m.id"] for a in poll["answers"]] == ["a0", "a1", "a2"]
    assert content["m.text"][0]["body"].startswith(poll["question"]["m.text"][0]["body"])
    answer = response_content("n20-x-poll", "$start", 4)
    assert answer["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$start"}
    assert answer["m.selections"] == ["a1"]


def test_only_this_run_s_poll_events_count() -> None:
    ours = {"type": POLL_RESPONSE, "content": {POLL_KEY: "run2-poll"}}
    assert is_ours(ours, POLL_RESPONSE, "run2-poll")
    assert not is_ours(ours, POLL_RESPONSE, "run1-poll")  # an earlier run's, in a first sync
    assert not is_ours(ours, POLL_START, "run2-poll")


def test_the_tally_counts_each_voter_once_and_times_the_last_answer() -> None:
    tally = Tally(frozenset({"@s1", "@s2", "@s3"}))
    assert tally.all_answers_s is None
    tally.started_at = 100.0
    assert tally.answer("@s2", 101.5)
    assert not tally.answer("@s2", 103.0)  # the same answer seen again (sync, then relations)
    assert not tally.answer("@teacher", 101.0)  # not a voter
    assert tally.answer("@s1", 102.0)
    assert not tally.complete
    assert tally.all_answers_s is None
    assert tally.report() == {"voters": 3, "answers": 2, "all_answers_s": None}
    assert tally.answer("@s3", 104.25)
    assert tally.complete
    assert tally.report() == {"voters": 3, "answers": 3, "all_answers_s": 4.25}


def test_a_poll_without_voters_is_never_complete() -> None:
    assert not Tally(frozenset()).complete


# --- the report (parta.bench.day_report) --------------------------------------------------


def test_photos_and_the_poll_are_reported_apart_from_the_chatter() -> None:
    messages = [
        {"id": "m0", "kind": "class", "photo": False},
        {"id": "m1", "kind": "class", "photo": True},
        {"id": "a0", "kind": "announcements", "photo": False},
    ]
    reports = [
        {
            "sent": 2,
            "photos_sent": 1,
            "expected": 4,
            "delivered": 4,
            "deliveries": [("m0", 0.1), ("m1", 0.9), ("m1", 1.1), ("a0", 2.0)],
            "fetches": [("m1", 1.2), ("m1", 1.4)],
            "uploads": [0.3],
            "first_sync_s": [0.5],
            "poll": {"voters": 2, "answers": 2, "all_answers_s": 3.5},
            "poll_answers_sent": 1,
            "errors": {},
            "retries": {},
        },
        {
            "sent": 1,
            "expected": 1,
            "delivered": 1,
            "deliveries": [("m0", 0.3)],
            "first_sync_s": [0.7],
            "poll": None,
            "poll_answers_sent": 1,
            "errors": {"sync:ReadTimeout": 1},
            "retries": {},
        },
    ]
    cpu = {"synapse": 0.5, "synapse_workers": 0.25, "diary": 0.01}
    out = figures(2, messages, reports, cpu)
    assert out["delivery_by_room"]["class"]["count"] == 2  # the photo is not chatter
    assert out["delivery_p95_s"] == 0.3
    assert out["delivery_by_room"]["photos"]["count"] == 2
    assert (out["photos"], out["photos_sent"], out["photos_delivered"]) == (1, 1, 2)
    assert (out["photos_fetched"], out["photo_fetch_p95_s"]) == (2, 1.4)
    assert out["photo_delivery_p95_s"] == 1.1
    assert out["photo_upload_p95_s"] == 0.3
    assert (out["poll_voters"], out["poll_answers"], out["poll_answers_sent"]) == (2, 2, 2)
    assert out["poll_all_answers_s"] == 3.5
    assert out["synapse_cpu_share"] == 0.75  # main and its workers
    assert out["errors"] == 1


def test_each_synapse_process_has_its_cpu_and_memory() -> None:
    processes = synapse_processes(
        {"main": 0.4, "generic1": 0.3}, {"main": (300.04, 310.0), "generic1": (200.0, 201.26)}
    )
    assert processes == {
        "main": {"cpu_share": 0.4, "rss_mb": 300.0, "rss_peak_mb": 310.0},
        "generic1": {"cpu_share": 0.3, "rss_mb": 200.0, "rss_peak_mb": 201.3},
    }


# --- the day's plan (parta.bench.day_school) ----------------------------------------------


def _school() -> School:
    t, s1, s2, s3, p1 = (UserID(f"@parta_{x}:school") for x in ("t", "s1", "s2", "s3", "p1"))
    small = Room("!small:school", "class", frozenset({t, s1}), frozenset({t, s1}))
    big = Room("!big:school", "class", frozenset({t, s1, s2, s3}), frozenset({t, s1, s2, s3}))
    parents = Room("!parents:school", "parents", frozenset({t, p1}), frozenset({t, p1}))
    return School(
        (t, s1, s2, s3, p1),
        (big, parents, small),
        staff=frozenset({t}),
        students=frozenset({s1, s2, s3}),
    )


def test_the_poll_is_a_teacher_s_in_the_class_with_most_student_clients() -> None:
    school = _school()
    poll = day_poll(school, frozenset(school.people), 60.0, "run-")
    assert poll == {
        "id": "run-poll",
        "room": "!big:school",
        "teacher": "@parta_t:school",
        "voters": ["@parta_s1:school", "@parta_s2:school", "@parta_s3:school"],
        "at": 15.0,
    }
    # the teacher not a client: no poll
    assert day_poll(school, frozenset(school.people[1:]), 60.0, "run-") is None


def test_one_message_in_k_is_a_photo() -> None:
    school = _school()
    clients = frozenset(school.people)
    messages = day_messages(school, clients, 2.0, 30.0, 1, "r-", photo_every=5)
    chatter = [m for m in messages if m["kind"] != "announcements"]
    assert len(chatter) == 60
    assert sum(m["photo"] for m in chatter) == 12
    assert not any(m["photo"] for m in messages if m["kind"] == "announcements")
    none = day_messages(school, clients, 2.0, 30.0, 1, "r-", photo_every=0)
    assert not any(m["photo"] for m in none)


def test_workers_on_sqlite_are_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert day.main(argparse.Namespace(workers=2, database="sqlite")) == 2
    assert "--workers needs --database postgres" in capsys.readouterr().err
