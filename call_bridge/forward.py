"""Forwarding media through aiortc as RTP packets, without decoding or re-encoding it.

Stock aiortc decodes every received track and re-encodes it for every sender
(field notes: 4–5× the CPU at two participants, and no real time from three on).
An earlier bridge forwarded encoded *frames* (after aiortc's jitter buffer, packed
again per subscriber) and still spent ~190 µs of CPU per packet sent. The bridge now
forwards *packets*, below the jitter buffer, as an SFU does:

::

    publisher ──RTP──▶ RTCDtlsTransport (SRTP) ─▶ RTCRtpReceiver._handle_rtp_packet
                                                    │ tap (before the jitter buffer)
                          ▲ PLI (throttled, merged) ▼
                    EncodedSource ── packet ──▶ ForwardTrack per subscriber: its own SSRC,
                          ▲ keyframe wanted        sequence numbers and timestamps (rebased
                          │                        at each switch), payload type, MID
                  RTCRtpSender._send_keyframe ◀── PLI ── subscriber ◀──RTP── _send_rtp (SRTP)

The receiver's own path still runs after the tap (statistics, NACKs, REMB, the jitter
buffer with a pass-through "decoder"), but only for the few packets coming in; the
many going out cost a header, an SRTP protect and a ``sendto`` each. A slot's sender
keeps its packets in aiortc's history, so a subscriber's NACK is answered as usual,
and its sender reports carry the forwarded counts.

``install_passthrough()`` patches aiortc for the bridge's own processes only: a
process that installs it can no longer decode what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aioice import ice
from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.codecs import CODECS, is_rtx
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, unwrap_rtx

log = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL = 1.0
"""At most one keyframe request per publisher per second, however many subscribers ask."""
SOCKET_BUFFER = 4 * 1024 * 1024
"""Per UDP socket (capped by ``net.core.rmem_max``): the default ~200 KB overflows when the
bridge falls behind for a moment, and the kernel drops what does not fit."""
MAX_QUEUED_FRAMES = 120
"""The baseline's decoded frames: a subscriber further behind than this starts again."""


@dataclass
class Totals:
    """This process's forwarding since it started (the metrics read it; calls come and go)."""

    packets_in: int = 0
    packets_out: int = 0
    octets_out: int = 0
    keyframe_requests: int = 0


TOTALS = Totals()


class Encoded:
    """An encoded frame as aiortc's senders pack it (``bytes()``, ``pts``, ``time_base``).

    What the pass-through "decoder" yields (the bridge counts frames with it), and what
    the benchmark's synthetic participants send.
    """

    __slots__ = ("data", "pts", "time_base")

    def __init__(self, data: bytes, pts: int, time_base: fractions.Fraction) -> None:
        self.data, self.pts, self.time_base = data, pts, time_base

    def __bytes__(self) -> bytes:
        return self.data


class PassthroughDecoder(Decoder):
    """A "decoder" that returns the encoded frame, stamped in the codec's clock."""

    def __init__(self, clock_rate: int) -> None:
        self._time_base = fractions.Fraction(1, clock_rate)

    def decode(self, encoded_frame: JitterFrame) -> list[Any]:
        return [Encoded(encoded_frame.data, encoded_frame.timestamp, self._time_base)]


Tap = Callable[[RtpPacket], Awaitable[None]]

_installed = False
_RECEIVER = "_RTCRtpReceiver__"
_SENDER = "_RTCRtpSender__"


def install_passthrough() -> None:
    """Patch this process's aiortc for forwarding (idempotent).

    Receivers hand every RTP packet to their ``parta_tap`` first (after unwrapping a
    retransmission) and decode nothing; a sender whose track is a :class:`ForwardTrack`
    binds to it and sends what the slot forwards.
    """
    global _installed
    if _installed:
        return

    def passthrough(codec: RTCRtpCodecParameters) -> Decoder:
        return PassthroughDecoder(codec.clockRate)

    setattr(rtcrtpreceiver, "get_decoder", passthrough)  # noqa: B010 (a module global)
    # One codec per kind end to end: what a publisher sends is what subscribers get.
    CODECS["video"][:] = [
        c for c in CODECS["video"] if c.mimeType == "video/VP8" or c.parameters.get("apt") == 97
    ]
    CODECS["audio"][:] = [c for c in CODECS["audio"] if c.mimeType == "audio/opus"]

    receiver_class = rtcrtpreceiver.RTCRtpReceiver
    handle: Callable[[Any, RtpPacket, int], Awaitable[None]] = receiver_class._handle_rtp_packet

    async def handle_rtp_packet(receiver: Any, packet: RtpPacket, arrival_time_ms: int) -> None:
        tap: Tap | None = getattr(receiver, "parta_tap", None)
        if tap is not None:
            original = _original_packet(receiver, packet)
            if original is not None:
                await tap(original)
        await handle(receiver, packet, arrival_time_ms)

    setattr(receiver_class, "_handle_rtp_packet", handle_rtp_packet)  # noqa: B010

    sender_class = rtcrtpsender.RTCRtpSender
    keyframe: Callable[[Any], None] = sender_class._send_keyframe

    def send_keyframe(sender: Any) -> None:
        keyframe(sender)
        track = sender.track
        if isinstance(track, ForwardTrack):
            track.keyframe_wanted()

    setattr(sender_class, "_send_keyframe", send_keyframe)  # noqa: B010

    run_rtp: Callable[[Any, RTCRtpCodecParameters], Awaitable[None]] = sender_class._run_rtp

    async def bound_run_rtp(sender: Any, codec: RTCRtpCodecParameters) -> None:
        track = sender.track
        if isinstance(track, ForwardTrack):
            track.bind(sender, codec)
        await run_rtp(sender, codec)  # for a slot: waits, its track yields nothing

    setattr(sender_class, "_run_rtp", bound_run_rtp)  # noqa: B010

    send_rtcp: Callable[[Any, list[Any]], Awaitable[None]] = sender_class._send_rtcp

    async def reported_send_rtcp(sender: Any, packets: list[Any]) -> None:
        track = sender.track
        if isinstance(track, ForwardTrack):
            track.report(packets)
        await send_rtcp(sender, packets)

    setattr(sender_class, "_send_rtcp", reported_send_rtcp)  # noqa: B010

    retransmit: Callable[[Any, int], Awaitable[None]] = sender_class._retransmit

    async def restored_retransmit(sender: Any, sequence_number: int) -> None:
        track = sender.track
        if isinstance(track, ForwardTrack):
            track.restore(sequence_number)
        await retransmit(sender, sequence_number)

    setattr(sender_class, "_retransmit", restored_retransmit)  # noqa: B010

    enlarge_socket_buffers()
    _installed = True


def enlarge_socket_buffers() -> None:
    """Give every ICE socket of this process :data:`SOCKET_BUFFER` each way."""
    made: Callable[[ice.StunProtocol, asyncio.BaseTransport], None] = (
        ice.StunProtocol.connection_made
    )

    def connection_made(protocol: ice.StunProtocol, transport: asyncio.BaseTransport) -> None:
        made(protocol, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a burst of keyframes must wait in the kernel, not be dropped
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)

    setattr(ice.StunProtocol, "connection_made", connection_made)  # noqa: B010


def _original_packet(receiver: Any, packet: RtpPacket) -> RtpPacket | None:
    """The media packet itself: a retransmission (RTX) unwrapped, unknown ones dropped."""
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, _RECEIVER + "codecs")
    codec = codecs.get(packet.payload_type)
    if codec is None:
        return None
    if not is_rtx(codec):
        return packet
    ssrc = getattr(receiver, _RECEIVER + "rtx_ssrc").get(packet.ssrc)
    apt = codec.parameters.get("apt")
    if ssrc is None or not isinstance(apt, int) or len(packet.payload) < 2:
        return None
    return unwrap_rtx(packet, payload_type=apt, ssrc=ssrc)


def is_vp8_keyframe(payload: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of an encoded frame's tag is 0 for a key frame."""
    return bool(payload) and payload[0] & 0x01 == 0


def starts_vp8_keyframe(payload: bytes) -> bool:
    """Whether an RTP packet's VP8 payload (RFC 7741) is the first packet of a key frame."""
    if not payload or payload[0] & 0x1F != 0x10:  # S=1 and partition 0: a frame starts here
        return False
    size = 1
    if payload[0] & 0x80:  # X: the extension byte follows
        if len(payload) < 2:
            return False
        x = payload[1]
        size = 2
        if x & 0x80:  # I: a picture id, one or two bytes (M)
            size += 2 if len(payload) > size and payload[size] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            size += 1
        if x & 0x30:  # T or K: one byte for both
            size += 1
    return is_vp8_keyframe(payload[size:])


def newer(a: int, b: int) -> bool:
    """RFC 3550 sequence numbers: whether ``a`` comes after ``b`` (modulo 2^16)."""
    return a != b and (a - b) & 0xFFFF < 0x8000


class Source(Protocol):
    """A published track that slots can attach to."""

    kind: str
    frames_in: int
    packets_in: int
    paused: bool
    heard: bool
    level: int | None
    last_packet: float

    @property
    def live(self) -> bool: ...

    def add(self, sink: ForwardTrack) -> None: ...

    def remove(self, sink: ForwardTrack) -> None: ...

    def keyframe_wanted(self) -> None: ...

    def stop(self) -> None: ...


SourceFactory = Callable[
    [rtcrtpreceiver.RTCRtpReceiver, str, Callable[[], None], Callable[["Source"], None]], Source
]
"""(receiver, kind, request_keyframe, on_first_frame) → a source."""

LEVEL_SMOOTHING = 0.2
"""Each packet's audio level weighs this much in a source's running loudness."""


class EncodedSource:
    """One published track, fanned out to subscribers' slots packet by packet."""

    def __init__(
        self,
        receiver: rtcrtpreceiver.RTCRtpReceiver,
        kind: str,
        request_keyframe: Callable[[], None],
        on_first_frame: Callable[[Source], None] | None = None,
    ) -> None:
        self.kind = kind
        self._track = receiver.track
        self._request_keyframe = request_keyframe
        self._on_first_frame = on_first_frame
        self._subscribers: set[ForwardTrack] = set()
        self._last_request = -KEYFRAME_REQUEST_INTERVAL
        self._pending_request: asyncio.TimerHandle | None = None
        self.paused = False
        """Muted: what arrives anyway is not forwarded."""
        self.heard = True
        """Audio only: among the loudest (see :mod:`call_bridge.speakers`)."""
        self.level: int | None = None
        """Audio only: running loudness in -dBov (0 silent … 127 loudest), None if unsent."""
        self._held = False
        self.last_packet = -1.0
        self.frames_in = 0
        self.packets_in = 0
        self.keyframe_requests = 0
        setattr(receiver, "parta_tap", self._packet)  # noqa: B010 (see install_passthrough)
        self._task = asyncio.ensure_future(self._pump())

    @property
    def live(self) -> bool:
        return not self._task.done()

    def add(self, sink: ForwardTrack) -> None:
        self._subscribers.add(sink)
        if self.kind == "video":
            self.keyframe_wanted()

    def remove(self, sink: ForwardTrack) -> None:
        self._subscribers.discard(sink)

    def keyframe_wanted(self) -> None:
        """Ask the publisher for a keyframe: at once, or merged into the next allowed slot."""
        if self.kind != "video" or self._pending_request is not None or not self.live:
            return
        wait = self._last_request + KEYFRAME_REQUEST_INTERVAL - time.monotonic()
        if wait <= 0:
            self._send_request()
        else:
            self._pending_request = asyncio.get_event_loop().call_later(wait, self._send_request)

    def _send_request(self) -> None:
        self._pending_request = None
        self._last_request = time.monotonic()
        self.keyframe_requests += 1
        TOTALS.keyframe_requests += 1
        self._request_keyframe()

    async def _packet(self, packet: RtpPacket) -> None:
        self.packets_in += 1
        TOTALS.packets_in += 1
        self.last_packet = time.monotonic()
        level = packet.extensions.audio_level
        if level is not None:  # RFC 6464: (voice, -dBov); kept as loudness, higher is louder
            loud = 127 - level[1]
            self.level = (
                loud
                if self.level is None
                else round(self.level + LEVEL_SMOOTHING * (loud - self.level))
            )
        if self.paused or not self.heard:
            self._held = True
            return
        if self._held:  # forwarding again after a pause: no gap in sequence numbers
            self._held = False
            for sink in self._subscribers:
                sink.resume()
        start = self.kind == "video" and starts_vp8_keyframe(packet.payload)
        now = time.time()
        tail = changing_extension(self.kind, packet, now)  # once, for every subscriber
        for sink in self._subscribers:
            sink.forward(packet, start, now, tail)

    async def _pump(self) -> None:
        """Complete frames, as the receiver's jitter buffer assembles them: counted only."""
        while True:
            try:
                await self._track.recv()
            except MediaStreamError:
                break
            self.frames_in += 1
            if self.frames_in == 1 and self._on_first_frame is not None:
                self._on_first_frame(self)
        self._stopped()

    def _stopped(self) -> None:
        if self._pending_request is not None:
            self._pending_request.cancel()
            self._pending_request = None
        for sink in list(self._subscribers):
            sink.detach()

    def stop(self) -> None:
        self._task.cancel()
        self._stopped()


_STEP = {"video": 3000, "audio": 960}
"""One frame at 30 fps in the 90 kHz video clock; 20 ms in Opus's 48 kHz clock."""


_RTP_HEADER = struct.Struct("!BBHII")
NTP_EPOCH = 2208988800
"""Seconds from 1900 (NTP) to 1970 (Unix)."""


def abs_send_time(now: float) -> int:
    """The abs-send-time header extension's value: NTP time, 6.18 fixed point, 24 bits."""
    return int((now + NTP_EPOCH) * (1 << 18)) & 0xFFFFFF


def ntp_time(now: float) -> int:
    """64-bit NTP time, as sender reports carry it."""
    return int((now + NTP_EPOCH) * (1 << 32))


def changing_extension(kind: str, packet: RtpPacket, now: float) -> bytes | None:
    """The header extension value that changes per packet: abs-send-time (3 bytes) for
    video, the voice's RFC 6464 level (1 byte, when the publisher sent one) for audio."""
    if kind == "video":
        return abs_send_time(now).to_bytes(3, "big")
    level = packet.extensions.audio_level
    return None if level is None else bytes([(0x80 if level[0] else 0) | level[1]])


def _block(body: bytes) -> bytes:
    """RFC 8285 one-byte header extensions: elements already packed, padded to words."""
    body += b"\0" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


class ForwardTrack(MediaStreamTrack):
    """One slot of one subscriber: the packets of whichever source is attached.

    The slot outlives its sources (a sender whose track ends never sends again), so
    a freed slot is reused for the next publisher without renegotiating. Video starts
    at the first packet of a keyframe (a decoder cannot start elsewhere). Sequence
    numbers and timestamps are rebased at each switch so that they only move forward;
    after a pause (muted, or not among the loudest) only the sequence numbers are, so
    the subscriber sees no loss but the time that passed.

    A packet costs one header written with ``struct``, one SRTP protect and one
    ``sendto`` on the ICE pair in use: no RtpPacket object, no coroutine. The sender
    (bound by ``install_passthrough``) keeps answering NACKs from the slot's history
    and sends reports with the slot's counts. ``recv`` only serves the benchmark's
    baseline, which queues decoded frames here for the sender to encode.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: Source | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._sender: Any = None
        self._path: tuple[Callable[[bytes], bytes], Callable[[bytes, Any], Any], Any] | None
        self._path = None
        self._waiting_for_keyframe = kind == "video"
        self._rebase = True
        self._reseq = False
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_seq: int | None = None
        self._last_ts = 0
        self._last_time = 0.0
        self._history: dict[int, bytes] = {}
        self.frames_out = 0
        self.packets_out = 0
        self.octets_out = 0

    # -- the sender ---------------------------------------------------------------------------

    def bind(self, sender: Any, codec: RTCRtpCodecParameters) -> None:
        """The sender's negotiated identity, once it starts (aiortc's private fields)."""
        self._sender = sender
        self._payload_type = int(codec.payloadType or 0)
        self._ssrc: int = sender._ssrc
        self._extensions = getattr(sender, _SENDER + "rtp_header_extensions_map")
        ids = self._extensions._HeaderExtensionsMap__ids
        mid: str | None = getattr(sender, _SENDER + "mid")
        head = bytes([(ids.mid << 4) | (len(mid) - 1)]) + mid.encode() if ids.mid and mid else b""
        self._plain = _block(head) if head else b""
        # the one value that changes per packet goes last: abs-send-time (3 bytes) for
        # video, the audio level (1 byte) for voices
        tail_id = ids.abs_send_time if self.kind == "video" else ids.audio_level
        self._prefix = b""
        if tail_id:
            size = 3 if self.kind == "video" else 1
            body = len(head) + 1 + size
            self._pad = b"\0" * (-body % 4)
            words = (body + len(self._pad)) // 4
            self._prefix = (
                struct.pack("!HH", 0xBEDE, words) + head + bytes([(tail_id << 4) | (size - 1)])
            )
        if self._waiting_for_keyframe:  # the one asked for on attaching may have gone by
            self.keyframe_wanted()

    def _send_path(self) -> tuple[Callable[[bytes], bytes], Callable[[bytes, Any], Any], Any]:
        """SRTP and the ICE pair in use, once both are up (raises ConnectionError before)."""
        dtls = self._sender.transport
        if dtls.state != "connected" or dtls._tx_srtp is None:
            raise ConnectionError
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            raise ConnectionError
        transport = pair.protocol.transport
        # a host pair: the socket itself (asyncio's transport only adds checks and a
        # buffer UDP does not need); a relayed pair: aioice's TurnTransport
        sock = getattr(transport, "_sock", None)
        send = sock.sendto if isinstance(sock, socket.socket) else transport.sendto
        path = (dtls._tx_srtp.protect, send, pair.remote_addr)
        self._path = path
        return path

    def report(self, packets: list[Any]) -> None:
        """Fill the sender's report with what this slot forwarded."""
        for packet in packets:
            info = getattr(packet, "sender_info", None)
            if info is not None:
                info.ntp_timestamp = ntp_time(self._last_time)
                info.rtp_timestamp = self._last_ts
                info.packet_count = self.packets_out & 0xFFFFFFFF
                info.octet_count = self.octets_out & 0xFFFFFFFF

    def restore(self, sequence_number: int) -> None:
        """Put a forwarded packet back in the sender's history, for it to retransmit."""
        data = self._history.get(sequence_number % RTP_HISTORY_SIZE)
        if data is not None and self._sender is not None:
            history = getattr(self._sender, _SENDER + "rtp_history")
            history[sequence_number % RTP_HISTORY_SIZE] = RtpPacket.parse(data, self._extensions)

    # -- sources ------------------------------------------------------------------------------

    def attach(self, source: Source) -> None:
        self.detach()
        self.source = source
        self._waiting_for_keyframe = self.kind == "video"
        self._rebase = True
        source.add(self)

    def detach(self) -> None:
        if self.source is not None:
            self.source.remove(self)
            self.source = None
        self._drain()

    def resume(self) -> None:
        self._reseq = True

    def keyframe_wanted(self) -> None:
        if self.source is not None:
            self.source.keyframe_wanted()

    def forward(
        self, packet: RtpPacket, keyframe_start: bool, now: float, tail: bytes | None
    ) -> None:
        """Send ``packet`` on; ``tail`` is its :func:`changing_extension` value."""
        if self._sender is None:  # not negotiated yet
            return
        if self._waiting_for_keyframe:
            if not keyframe_start:
                return
            self._waiting_for_keyframe = False
        try:
            protect, sendto, addr = self._path or self._send_path()
        except ConnectionError:
            return
        seq_in, ts_in = packet.sequence_number, packet.timestamp
        if self._rebase or self._reseq:
            last = self._last_seq
            self._seq_offset = 0 if last is None else (last + 1 - seq_in) & 0xFFFF
            if self._rebase:
                step = _STEP.get(self.kind, 0) if last is not None else 0
                self._ts_offset = (self._last_ts + step - ts_in) & 0xFFFFFFFF
            self._rebase = self._reseq = False
        seq = (seq_in + self._seq_offset) & 0xFFFF
        ts = (ts_in + self._ts_offset) & 0xFFFFFFFF
        extension = self._prefix + tail + self._pad if tail and self._prefix else self._plain
        payload = packet.payload
        data = (
            _RTP_HEADER.pack(
                0x90 if extension else 0x80,
                (packet.marker << 7) | self._payload_type,
                seq,
                ts,
                self._ssrc,
            )
            + extension
            + payload
        )
        self._history[seq % RTP_HISTORY_SIZE] = data
        try:
            sendto(protect(data), addr)
        except OSError:  # the kernel's buffer is full, or the pair went away: lost
            self._path = None
            return
        if self._last_seq is None or newer(seq, self._last_seq):
            self._last_seq, self._last_ts, self._last_time = seq, ts, now
        self.packets_out += 1
        self.octets_out += len(payload)
        TOTALS.packets_out += 1
        TOTALS.octets_out += len(payload)
        self.frames_out += packet.marker if self.kind == "video" else 1

    # -- the baseline's decoded frames ------------------------------------------------------

    def offer(self, frame: Any) -> None:
        if self._queue.qsize() >= MAX_QUEUED_FRAMES:
            self._drain()
        self._queue.put_nowait(frame)

    def _drain(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                self._queue.get_nowait()

    async def recv(self) -> Any:  # aiortc types it as Frame
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        self.frames_out += 1
        return frame

    def stop(self) -> None:
        self.detach()
        super().stop()
