"""The bridge's pure parts: call names, the lesson window, attendance, slots, TURN."""

from __future__ import annotations

import asyncio
import base64
import fractions
import hashlib
import hmac
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from call_bridge.attendance import Visit, report, summarise
from call_bridge.forward import Encoded, ForwardTrack, is_vp8_keyframe
from call_bridge.gate import Admission
from call_bridge.rules import CallId, CallKind, LessonWindow, MemberView, Refused, admit_member
from call_bridge.worker import ice_servers
from parta.config import CallBridgeConfig
from parta.ids import RoomID, UserID

START = datetime(2026, 11, 30, 18, 15)
WINDOW = LessonWindow(START, START + timedelta(minutes=40))


def test_call_names_round_trip_and_bad_ones_are_refused() -> None:
    lesson = CallId.parse("lesson/tt-5a-1%402026-11-30")
    assert lesson == CallId(CallKind.LESSON, "tt-5a-1@2026-11-30")
    assert CallId.parse(lesson.path) == lesson
    room = CallId.parse("room/!abc:school.example")
    assert room.room == RoomID("!abc:school.example")
    for bad in ("lesson/no-date", "room/abc", "other/x", "room/!", "lesson/a/b@2026-01-01"):
        with pytest.raises(Refused, match="неверная ссылка"):
            CallId.parse(bad)


@pytest.mark.parametrize(
    ("minutes", "refusal"),
    [
        (-11, "Внимание! Урок еще не начался"),
        (-10, None),
        (0, None),
        (55, None),
        (56, "Урок уже закончился"),
    ],
)
def test_the_lesson_window_is_ten_minutes_before_to_fifteen_after(
    minutes: int, refusal: str | None
) -> None:
    now = START + timedelta(minutes=minutes)
    if refusal is None:
        WINDOW.check(now)
    else:
        with pytest.raises(Refused, match=refusal):
            WINDOW.check(now)


def test_only_joined_members_enter_and_power_makes_a_moderator() -> None:
    assert admit_member(MemberView("join", 60, "Учитель")) is True
    assert admit_member(MemberView("join", 0, "Ученик")) is False
    for membership in (None, "invite", "leave", "ban"):
        with pytest.raises(Refused, match="не участник"):
            admit_member(MemberView(membership, 100, None))


def test_attendance_counts_overlapping_stays_once() -> None:
    visits = [
        Visit("@s:x", "Ученик", 1000, 1600),
        Visit("@s:x", "Ученик", 1300, 1900),  # a second tab
        Visit("@s:x", "Ученик", 2500, 2560),  # came back later
        Visit("@t:x", "Учитель", 900, 3000),
    ]
    found = {p.user: p for p in summarise(visits)}
    assert found["@s:x"].seconds == 900 + 60
    assert found["@t:x"].seconds == 2100
    assert [p.user for p in summarise(visits)] == ["@t:x", "@s:x"]
    text = report("Урок", summarise(visits), ZoneInfo("UTC"))
    assert "• Ученик — 16 мин" in text
    assert text.startswith("Посещаемость: Урок")


def test_vp8_keyframes_are_told_by_their_first_bit() -> None:
    assert is_vp8_keyframe(b"\x10\x02\x00")
    assert not is_vp8_keyframe(b"\x11\x02\x00")
    assert not is_vp8_keyframe(b"")


async def test_a_video_slot_starts_at_a_keyframe_and_its_time_only_moves_forward() -> None:
    base = fractions.Fraction(1, 90000)
    slot = ForwardTrack("video")
    slot.offer(Encoded(b"\x11", 9000, base), keyframe=False)  # a delta frame: skipped
    slot.offer(Encoded(b"\x10", 12000, base), keyframe=True)
    slot.offer(Encoded(b"\x11", 15000, base), keyframe=False)
    first, second = await slot.recv(), await slot.recv()
    assert (first.data, first.pts) == (b"\x10", 0)
    assert second.pts == 3000
    slot._rebase = True  # what attaching another source does
    slot._waiting_for_keyframe = True
    slot.offer(Encoded(b"\x10", 5, base), keyframe=True)  # the new source's clock is behind
    assert (await asyncio.wait_for(slot.recv(), 1)).pts == 6000


def test_turn_credentials_are_coturn_s_shared_secret_scheme(tmp_path: Path) -> None:
    secret = tmp_path / "turn_secret"
    secret.write_text("a-long-enough-turn-secret\n")
    config = CallBridgeConfig(
        turn_urls=("turn:turn.school.example:3478",), turn_secret_file=secret, turn_ttl_seconds=600
    )
    admission = Admission(
        UserID("@t:school.example"), "Учитель", CallId.parse("room/!r"), RoomID("!r"), True, None
    )
    (turn,) = ice_servers(config, now=lambda: 1_000_000)(admission)
    assert turn.username == "1000600:@t:school.example"
    expected = hmac.new(b"a-long-enough-turn-secret", turn.username.encode(), hashlib.sha1).digest()
    assert turn.credential == base64.b64encode(expected).decode()
    assert ice_servers(CallBridgeConfig())(admission) == []  # never a public STUN server
