"""The benchmark's synthetic participants, some of a class per process.

``python -m parta.bench.calls_peers`` (started by ``parta bench calls``, never by hand)
joins its share of the class to the bridge, says ``ready``, starts sending on ``go``,
leaves on ``stop`` (or when its input ends), and on ``report`` prints one JSON line:
what each of its participants sent (the time of every frame) and received (for every
video frame: when its last packet came, and the sender's frame index if every packet of
it came).

It stays cheap so that it does not starve the bridge it measures: media is pre-encoded
(:mod:`parta.bench.calls_media`), and what arrives is counted packet by packet, never
reassembled or decoded — aiortc's receivers are patched in this process to do only that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
import time
from asyncio import selector_events
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets
from aioice import ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, rtcrtpsender
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from call_bridge.forward import Encoded, enlarge_socket_buffers
from parta.bench.calls_media import Clip

TRAILER = b"PRTA"
"""Ends every video frame sent, before the frame's index: the subscriber can tell which
frame it got (the bridge forwards payloads unchanged; the baseline re-encodes them away)."""


class ClipTrack(MediaStreamTrack):
    """Sends a clip in real time, already encoded (the sender only packetises it)."""

    def __init__(
        self,
        kind: str,
        clip: Clip,
        go: asyncio.Event,
        tag: bool,
        level: int | None = None,
        start: int = 0,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._clip, self._go, self._tag = clip, go, tag
        self._first = start
        """Where in the clip this sender starts: cameras are not in step with each other."""
        self.level = level
        """Audio: the dBov (≤ 0) put in each packet's RFC 6464 header."""
        self.sent_at: list[float] = []

    async def recv(self) -> Any:
        await self._go.wait()
        k = len(self.sent_at)
        if k == 0:
            self._start = time.monotonic()
        wait = self._start + k * self._clip.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data = self._clip.frames[(self._first + k) % len(self._clip.frames)]
        if self._tag:
            data += TRAILER + struct.pack("!I", k)
        self.sent_at.append(time.time())  # the clock the kernel stamps arrivals with
        return Encoded(data, k * self._clip.step, self._clip.time_base)


class Counter:
    """What one receiving slot got: video frames whole or broken, audio packets."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.frames: list[tuple[float, int]] = []
        """(arrival of the frame's last packet, the sender's index; -1 untagged, -2 broken).

        Arrival is the kernel's receive time of the packet (``SO_TIMESTAMPNS``)."""
        self.packets = 0
        self._next: int | None = None
        self._whole = True

    def __call__(self, packet: RtpPacket) -> None:
        self.count(packet.sequence_number, packet.marker, packet.payload[-8:], time.time())

    def count(self, seq: int, marker: int, tail: bytes, arrived: float) -> None:
        self.packets += 1
        if self.kind != "video":
            return
        if self._next is not None and seq != self._next:
            self._whole = False
        self._next = (seq + 1) & 0xFFFF
        if marker:
            index = -1
            if not self._whole:
                index = -2
            elif tail[:4] == TRAILER:
                index = struct.unpack("!I", tail[4:])[0]
            self.frames.append((arrived, index))
            self._whole = True


_FAST: dict[int, Callable[[bytes], None]] = {}
"""SSRC → its counter, fed straight from the socket once the stream is known."""


def _fast(unprotect: Callable[[bytes], bytes], counter: Counter) -> Callable[[bytes], None]:
    def handle(data: bytes) -> None:
        try:
            plain = unprotect(data)
        except Exception:
            return
        counter.count(int.from_bytes(plain[2:4], "big"), plain[1] >> 7, plain[-8:], _arrived)

    return handle


def install_counting() -> None:
    """Receivers count packets and do nothing else; senders stamp their clip's level.

    A stream's first packet goes aiortc's way (SRTP, parsing, routing by MID); after
    that its SSRC is known, and its packets go from the socket straight to SRTP and the
    counter, skipping aiortc's queue, parser and router.
    """
    enlarge_socket_buffers()

    async def count(receiver: Any, packet: RtpPacket, arrival_time_ms: int) -> None:
        counter = getattr(receiver, "parta_counter", None)
        if counter is not None:
            counter(packet)
            _FAST[packet.ssrc] = _fast(receiver.transport._rx_srtp.unprotect, counter)

    setattr(RTCRtpReceiver, "_handle_rtp_packet", count)  # noqa: B010
    received: Callable[[Any, bytes, Any], None] = ice.StunProtocol.datagram_received

    def datagram_received(protocol: Any, data: bytes, addr: Any) -> None:
        # RTP (not RTCP: payload types 64–95 with the marker bit are 192–223)
        if len(data) > 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223:
            handle = _FAST.get(int.from_bytes(data[8:12], "big"))
            if handle is not None:
                handle(data)
                return
        received(protocol, data, addr)

    setattr(ice.StunProtocol, "datagram_received", datagram_received)  # noqa: B010
    datagrams = getattr(selector_events, "_SelectorDatagramTransport")  # noqa: B009
    setattr(datagrams, "_add_reader", _poll_instead)  # noqa: B010

    sender_class = rtcrtpsender.RTCRtpSender
    next_frame: Callable[[Any, Any], Awaitable[Any]] = sender_class._next_encoded_frame

    async def stamped(sender: Any, codec: Any) -> Any:
        frame = await next_frame(sender, codec)
        level = getattr(sender.track, "level", None)
        if frame is not None and level is not None:
            frame.audio_level = level
        return frame

    setattr(sender_class, "_next_encoded_frame", stamped)  # noqa: B010


SO_TIMESTAMPNS = 35
"""Linux's ``<asm-generic/socket.h>`` (``SCM_TIMESTAMPNS`` is the same number); Python's
socket module does not name it."""
POLL_INTERVAL = 0.005
_POLLED: list[Any] = []
_arrived = 0.0


def _poll_instead(transport: Any, fd: int, callback: Any, *args: Any) -> None:
    """A UDP socket is read every :data:`POLL_INTERVAL`, not woken for each datagram.

    The participants of a real class are on other machines; here they share the bridge's
    kernel, and a receiver woken per packet makes the bridge's ``sendto`` pay for the
    wake-up. Read in batches instead, the arrival times still come from the kernel.
    """
    with contextlib.suppress(OSError):
        transport._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    _POLLED.append(transport)


async def poll_sockets() -> None:
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        for transport in list(_POLLED):
            if transport._conn_lost or transport.is_closing():
                _POLLED.remove(transport)
            else:
                _drain(transport)


def _drain(transport: Any) -> None:
    global _arrived
    sock, protocol = transport._sock, transport._protocol
    while True:
        try:
            data, ancillary, _, addr = sock.recvmsg(transport.max_size, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            protocol.error_received(exc)
            return
        _arrived = time.time()
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", value[:16])
                _arrived = seconds + nanoseconds / 1e9
        protocol.datagram_received(data, addr)


class Participant:
    def __init__(self, ws_url: str, key: str, publish: dict[str, ClipTrack]) -> None:
        self._url, self._key, self.publish = ws_url, key, publish
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy="max-bundle"))  # type: ignore[arg-type]
        self.streams: dict[str, Any] = {}
        self.counters: dict[str, Counter] = {}
        self.me = ""
        self._task: asyncio.Task[Any] | None = None
        self.ready = asyncio.Event()

    async def join(self) -> None:
        self._ws = await websockets.connect(self._url, max_size=None)
        token = {"access_token": self._key, "matrix_server_name": "bench.invalid"}
        await self._ws.send(json.dumps({"type": "join", "call": "room/!bench", "token": token}))
        welcome = json.loads(await self._ws.recv())
        if welcome["type"] != "welcome":
            raise RuntimeError(f"the bench worker refused: {welcome}")
        self.me = welcome["you"]
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            if message["type"] == "streams":
                self.streams = message["streams"]
            elif message["type"] == "offer":
                self.streams = message["streams"]
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=message["sdp"], type="offer")
                )
                for t in self.pc.getTransceivers():
                    mid = str(t.mid)
                    source = message["publish"].get(mid)
                    if source is not None:
                        t.direction = "sendonly"
                        if source in self.publish and t.sender.track is None:
                            t.sender.replaceTrack(self.publish[source])
                    elif mid not in self.counters:
                        counter = Counter(t.kind)
                        self.counters[mid] = counter
                        setattr(t.receiver, "parta_counter", counter)  # noqa: B010
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self._ws.send(
                    json.dumps({"type": "answer", "sdp": self.pc.localDescription.sdp})
                )
                self.ready.set()

    def report(self) -> dict[str, Any]:
        got = []
        for mid, counter in self.counters.items():
            owner = self.streams.get(mid)
            if owner:
                got.append(
                    {
                        "owner": owner["participant"],
                        "source": owner["source"],
                        "kind": counter.kind,
                        "packets": counter.packets,
                        "frames": counter.frames,
                    }
                )
        sent = {name: track.sent_at for name, track in self.publish.items()}
        return {"me": self.me, "sent": sent, "got": got}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._ws.close()
        await self.pc.close()


def profile(
    students: int, speakers: int, cameras: int, clips: dict[str, Clip], go: asyncio.Event, tag: bool
) -> list[dict[str, ClipTrack]]:
    """What each participant sends: the teacher first, then the students.

    Voices differ in loudness (the teacher loudest), as they would in a class; cameras
    start at different points of the clip, so their keyframes do not all come at once.
    """
    teacher = {
        "audio": ClipTrack("audio", clips["voice"], go, False, level=-20),
        "camera": ClipTrack("video", clips["camera"], go, tag),
        "screen": ClipTrack("video", clips["screen"], go, tag, start=3),
    }
    people = [teacher]
    for i in range(students):
        sends: dict[str, ClipTrack] = {}
        if i < speakers:
            sends["audio"] = ClipTrack("audio", clips["voice"], go, False, level=-30 - 8 * i)
        if i < cameras:
            sends["camera"] = ClipTrack("video", clips["camera"], go, tag, start=7 * (i + 1))
        people.append(sends)
    return people


async def _line() -> str:
    line: str = await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)
    return line.strip()


async def run(args: argparse.Namespace) -> None:
    install_counting()
    poller = asyncio.ensure_future(poll_sockets())
    clips = {name: Clip.load(args.clips / f"{name}.clip") for name in ("camera", "screen", "voice")}
    go = asyncio.Event()
    everyone = profile(args.students, args.speakers, args.cameras, clips, go, not args.untagged)
    mine = everyone[args.first : args.first + args.count]
    people = [Participant(args.ws, os.environ["PARTA_BENCH_KEY"], sends) for sends in mine]
    try:
        for person in people:
            await person.join()
        await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in people)), 60)
        print("ready", flush=True)
        if await _line() != "go":
            return
        go.set()
        if await _line() != "report":
            return
        print(json.dumps({"people": [p.report() for p in people]}), flush=True)
        await _line()  # everybody stays until every process has reported
    finally:
        for person in people:
            await person.close()
        poller.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m parta.bench.calls_peers")
    parser.add_argument("--ws", required=True)
    parser.add_argument("--clips", type=Path, required=True)
    parser.add_argument("--students", type=int, required=True)
    parser.add_argument("--speakers", type=int, required=True)
    parser.add_argument("--cameras", type=int, required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--untagged", action="store_true")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
