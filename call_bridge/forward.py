"""Forwarding encoded media through aiortc without decoding or re-encoding it.

Stock aiortc decodes every received track and re-encodes it for every sender
(field notes: 4–5× the CPU at two participants, and no real time from three on).
The bridge keeps media encoded end to end:

::

    publisher ──RTP──▶ RTCRtpReceiver ─ jitter buffer ─▶ PassthroughDecoder (no codec:
                                                           the encoded frame as av.Packet)
                          ▲ PLI (throttled, merged)              │
                          │                                      ▼
                    EncodedSource ───────────────▶ ForwardTrack per subscriber
                          ▲ keyframe wanted                      │ av.Packet
                          │                                      ▼
                  RTCRtpSender._send_keyframe ◀── PLI ── RTCRtpSender.pack() ──RTP──▶ subscriber

``install_passthrough()`` swaps the receivers' decoder for one that hands the
encoded frame on, so it is for the bridge's own processes only: a process that
installs it can no longer decode what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from aioice import ice
from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.codecs import CODECS
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

log = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL = 1.0
"""At most one keyframe request per publisher per second, however many subscribers ask."""
SOCKET_BUFFER = 4 * 1024 * 1024
"""Per UDP socket (capped by ``net.core.rmem_max``): the default ~200 KB overflows when the
bridge falls behind for a moment, and the kernel drops what does not fit."""
MAX_QUEUED_FRAMES = 120
"""A subscriber further behind than this skips to the next keyframe instead of growing."""


class Encoded:
    """An encoded frame as aiortc's senders pack it (``bytes()``, ``pts``, ``time_base``).

    Not an ``av.Packet``: one received frame goes to many subscribers, each with its
    own timestamps, and this costs no copy of the payload.
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


_installed = False


def install_passthrough() -> None:
    """Make every receiver of this process yield encoded packets (idempotent)."""
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

    original: Callable[[rtcrtpsender.RTCRtpSender], None] = rtcrtpsender.RTCRtpSender._send_keyframe

    def send_keyframe(sender: rtcrtpsender.RTCRtpSender) -> None:
        original(sender)
        track = sender.track
        if isinstance(track, ForwardTrack):
            track.keyframe_wanted()

    setattr(rtcrtpsender.RTCRtpSender, "_send_keyframe", send_keyframe)  # noqa: B010

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
    _installed = True


def is_vp8_keyframe(payload: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the frame tag is 0 for a key frame."""
    return bool(payload) and payload[0] & 0x01 == 0


class Source(Protocol):
    """A published track that slots can attach to."""

    kind: str
    frames_in: int
    paused: bool

    @property
    def live(self) -> bool: ...

    def add(self, sink: ForwardTrack) -> None: ...

    def remove(self, sink: ForwardTrack) -> None: ...

    def keyframe_wanted(self) -> None: ...

    def stop(self) -> None: ...


SourceFactory = Callable[
    [MediaStreamTrack, str, Callable[[], None], Callable[["Source"], None]], Source
]
"""(track, kind, request_keyframe, on_first_frame) → a source."""


class EncodedSource:
    """One published track, fanned out to subscribers' slots as encoded frames."""

    def __init__(
        self,
        track: MediaStreamTrack,
        kind: str,
        request_keyframe: Callable[[], None],
        on_first_frame: Callable[[Source], None] | None = None,
    ) -> None:
        self.kind = kind
        self._track = track
        self._request_keyframe = request_keyframe
        self._on_first_frame = on_first_frame
        self._subscribers: set[ForwardTrack] = set()
        self._last_request = -KEYFRAME_REQUEST_INTERVAL
        self._pending_request: asyncio.TimerHandle | None = None
        self.paused = False
        """Muted: what arrives anyway is not forwarded."""
        self.frames_in = 0
        self.bytes_in = 0
        self.keyframe_requests = 0
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
        self._request_keyframe()

    async def _pump(self) -> None:
        while True:
            try:
                frame = await self._track.recv()
            except MediaStreamError:
                break
            if not isinstance(frame, Encoded):
                log.warning("a decoded frame reached the bridge: is install_passthrough() missing?")
                break
            self.frames_in += 1
            self.bytes_in += len(frame.data)
            if self.frames_in == 1 and self._on_first_frame is not None:
                self._on_first_frame(self)
            if self.paused:
                continue
            keyframe = self.kind == "video" and is_vp8_keyframe(frame.data)
            for sink in list(self._subscribers):
                sink.offer(frame, keyframe)
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


class ForwardTrack(MediaStreamTrack):
    """One slot of one subscriber: the encoded frames of whichever source is attached.

    The slot outlives its sources (a sender whose track ends never sends again), so
    a freed slot is reused for the next publisher without renegotiating. Video starts
    at a keyframe (a decoder cannot start elsewhere) and, when the subscriber falls
    too far behind, skips to the next one instead of dropping single frames.
    Timestamps are rebased at each switch so that they only move forward.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: Source | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._waiting_for_keyframe = kind == "video"
        self._rebase = True
        self._offset = 0
        self._last_pts: int | None = None
        self.frames_out = 0

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

    def offer(self, frame: Any, keyframe: bool) -> None:
        if self._waiting_for_keyframe:
            if not keyframe:
                return
            self._waiting_for_keyframe = False
        if self._queue.qsize() >= MAX_QUEUED_FRAMES:
            self._drain()
            if self.kind == "video" and not keyframe:
                self._waiting_for_keyframe = True
                self.keyframe_wanted()
                return
        self._queue.put_nowait(frame)

    def _drain(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                self._queue.get_nowait()

    def keyframe_wanted(self) -> None:
        if self.source is not None:
            self.source.keyframe_wanted()

    async def recv(self) -> Any:  # aiortc types it as Frame; its senders also take packets
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if not isinstance(frame, Encoded):  # a decoded frame (the baseline's relay)
            self.frames_out += 1
            return frame
        if self._rebase:
            start = 0 if self._last_pts is None else self._last_pts + _STEP.get(self.kind, 0)
            self._offset = start - frame.pts
            self._rebase = False
        pts = frame.pts + self._offset
        self._last_pts = pts
        self.frames_out += 1
        return Encoded(frame.data, pts, frame.time_base)

    def stop(self) -> None:
        self.detach()
        super().stop()
