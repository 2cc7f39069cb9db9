"""The bridge's pure parts: call names, the lesson window, attendance, slots, TURN."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import (
    HeaderExtensionsMap,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
)
from pydantic import ValidationError

from call_bridge.attendance import Visit, report, summarise
from call_bridge.forward import (
    ForwardTrack,
    abs_send_time,
    changing_extension,
    is_vp8_keyframe,
    starts_vp8_keyframe,
)
from call_bridge.front import page_headers
from call_bridge.gate import Admission
from call_bridge.rules import CallId, CallKind, LessonWindow, MemberView, Refused, admit_member
from call_bridge.speakers import loudest
from call_bridge.worker import ice_servers
from kernel.config import CallBridgeConfig, DiaryConfig, SchoolConfig
from kernel.ids import RoomID, UserID

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


class _Wire:
    """What a slot sends through: SRTP (here none) and the ICE pair's ``sendto``."""

    def __init__(self) -> None:
        self.sent: list[RtpPacket] = []
        self.state = "connected"
        self._tx_srtp = SimpleNamespace(protect=lambda data: data)
        pair = SimpleNamespace(
            protocol=SimpleNamespace(transport=self), remote_addr=("192.0.2.1", 9)
        )
        self.transport = SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair}))

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append(RtpPacket.parse(data, _EXTENSIONS))


_EXTENSIONS = HeaderExtensionsMap()
_EXTENSIONS.configure(
    RTCRtpParameters(
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
            ),
            RTCRtpHeaderExtensionParameters(
                id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
        ]
    )
)


class _Sender:
    """What a slot reads of aiortc's RTCRtpSender (its private fields included)."""

    def __init__(self) -> None:
        self._ssrc = 4242
        self.transport = _Wire()
        self._RTCRtpSender__mid = "3"
        self._RTCRtpSender__rtp_header_extensions_map = _EXTENSIONS
        self._RTCRtpSender__rtp_history: dict[int, RtpPacket] = {}


NOW = 1_780_000_000.25


def _forward(slot: ForwardTrack, packet: RtpPacket, keyframe_start: bool) -> None:
    """What a source does for each subscriber's slot."""
    slot.forward(packet, keyframe_start, NOW, changing_extension(slot.kind, packet, NOW))


def _vp8(seq: int, ts: int, key: bool, start: bool = True, ssrc: int = 1) -> RtpPacket:
    descriptor = b"\x90\x80\x05" if start else b"\x80\x80\x05"  # X, S, a picture id
    frame_tag = b"\x10" if key else b"\x11"
    return RtpPacket(96, 1, seq, ts, ssrc, descriptor + frame_tag + b"\x00\x00")


def test_a_keyframe_s_first_packet_is_told_from_its_payload_descriptor() -> None:
    assert starts_vp8_keyframe(b"\x10\x10\x02")  # no extension byte
    assert starts_vp8_keyframe(b"\x90\x80\x85\x01\x10")  # a 15-bit picture id
    assert starts_vp8_keyframe(b"\x90\xe0\x05\x07\x20\x10")  # picture id, TL0PICIDX, TID
    assert not starts_vp8_keyframe(b"\x90\x80\x05\x11")  # a delta frame
    assert not starts_vp8_keyframe(b"\x80\x80\x05\x10")  # not a frame's first packet
    assert not starts_vp8_keyframe(b"\x11\x10")  # a later partition
    assert not starts_vp8_keyframe(b"")


def test_a_video_slot_starts_at_a_keyframe_and_its_numbers_only_move_forward() -> None:
    slot = ForwardTrack("video")
    sender = _Sender()
    slot.bind(sender, RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97))
    _forward(slot, _vp8(100, 9000, key=False), False)  # a delta frame: skipped
    _forward(slot, _vp8(101, 12000, key=True), True)
    _forward(slot, _vp8(102, 12000, key=True, start=False), False)
    _forward(slot, _vp8(103, 15000, key=False), False)
    sent = sender.transport.sent
    assert [p.ssrc for p in sent] == [4242] * 3
    assert {p.payload_type for p in sent} == {97}
    assert [p.extensions.mid for p in sent] == ["3"] * 3
    assert [p.sequence_number - sent[0].sequence_number for p in sent] == [0, 1, 2]
    assert [p.timestamp - sent[0].timestamp for p in sent] == [0, 0, 3000]
    assert sent[1].payload == _vp8(102, 0, key=True, start=False).payload
    assert {p.extensions.abs_send_time for p in sent} == {abs_send_time(NOW)}
    # a NACK is answered from what was forwarded; the sender's report counts it
    slot.restore(sent[1].sequence_number)
    kept = sender._RTCRtpSender__rtp_history[sent[1].sequence_number % 128]
    assert (kept.sequence_number, kept.payload) == (sent[1].sequence_number, sent[1].payload)
    report = RtcpSrPacket(ssrc=4242, sender_info=RtcpSenderInfo(0, 0, 0, 0))
    slot.report([report])
    assert (report.sender_info.packet_count, report.sender_info.rtp_timestamp) == (
        3,
        sent[2].timestamp,
    )
    # another publisher in the slot: its numbers are far behind, the subscriber's go on
    slot._rebase, slot._waiting_for_keyframe = True, True  # what attaching it does
    _forward(slot, _vp8(7, 5, key=True, ssrc=2), True)
    assert sent[-1].sequence_number == (sent[2].sequence_number + 1) & 0xFFFF
    assert sent[-1].timestamp == (sent[2].timestamp + 3000) & 0xFFFFFFFF


def test_an_audio_slot_after_a_pause_skips_no_number_but_keeps_the_time() -> None:
    slot = ForwardTrack("audio")
    sender = _Sender()
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)
    slot.bind(sender, opus)
    heard = RtpPacket(111, 0, 10, 960, 1, b"a")
    heard.extensions.audio_level = (True, 30)
    _forward(slot, heard, False)
    slot.resume()  # packets 11…59 were held back (not among the loudest)
    _forward(slot, RtpPacket(111, 0, 60, 960 * 51, 1, b"b"), False)
    first, second = sender.transport.sent
    assert second.sequence_number == (first.sequence_number + 1) & 0xFFFF
    assert second.timestamp - first.timestamp == 960 * 50
    assert first.extensions.audio_level == (True, 30)  # passed on, for the client's own use


def test_the_loudest_voices_are_forwarded_and_a_heard_one_does_not_flicker() -> None:
    levels: dict[str, int | None] = {"a": 90, "b": 80, "c": 70, "d": 60}
    assert loudest(levels, frozenset(), 3) == {"a", "b", "c"}
    # d gets a little louder than c: not enough to take c's place …
    assert loudest({**levels, "d": 74}, frozenset({"a", "b", "c"}), 3) == {"a", "b", "c"}
    # … much louder is
    assert loudest({**levels, "d": 85}, frozenset({"a", "b", "c"}), 3) == {"a", "b", "d"}
    # a voice whose loudness is unknown is never silenced, and does not count
    assert loudest({**levels, "e": None}, frozenset(), 2) == {"a", "b", "e"}
    assert loudest({}, frozenset({"a"}), 3) == frozenset()


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


def _ancestors(config: SchoolConfig) -> str:
    policy = page_headers(config)["Content-Security-Policy"]
    found = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    return found["frame-ancestors"]


def test_the_call_page_is_framed_by_itself_the_diary_and_the_clients_named_only() -> None:
    diary = DiaryConfig(public_url="https://dnevnik.school14.example/")
    plain = SchoolConfig(server_name="school14.example", diary=diary)
    assert _ancestors(plain) == "'self' https://dnevnik.school14.example"
    named = SchoolConfig(
        server_name="school14.example",
        diary=diary,
        call_bridge=CallBridgeConfig(frame_ancestors=("https://element.school14.example",)),
    )
    assert _ancestors(named) == (
        "'self' https://dnevnik.school14.example https://element.school14.example"
    )


@pytest.mark.parametrize(
    "origin",
    ["*", "https://*.example", "https://element.example/app", "'unsafe-inline'", "element.example"],
)
def test_frame_ancestors_take_origins_only(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        CallBridgeConfig(frame_ancestors=(origin,))
