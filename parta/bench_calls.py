"""``parta bench calls``: one class's lesson through the bridge, then through stock MediaRelay.

::

    pre-encode the media once (VP8 camera 640x360@15, VP8 screen 1280x720@5, Opus 20 ms)
      ─▶ bridge worker process (``call_bridge.bench_worker``): the real signalling and
         forwarder; the door takes the benchmark's random key instead of Matrix
      ─▶ N aiortc participants in this process, not decoding what they receive
         (the bridge's passthrough receivers): the teacher's camera, screen and voice,
         3 speaking students, 3 student cameras, everybody else muted (not sending)
      ─▶ warm up (every subscription made), then measure a window: the worker's CPU and
         RSS, RTP packets per second in and out, video frames delivered of those sent
         (each video frame carries its index after the VP8 data, so a subscriber knows
         which frame it got and when it was sent), end-to-end delay
      ─▶ the same profile through a worker with ``--baseline`` (decode once, MediaRelay,
         re-encode per subscriber): its CPU and delivered share, and the ratio.

Figures, never assertions. The load generator shares this machine's cores with the
bridge, so its own cost is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import math
import os
import resource
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from call_bridge.forward import Encoded, install_passthrough
from parta.children import die_with_parent

VIDEO_BASE = fractions.Fraction(1, 90000)
AUDIO_BASE = fractions.Fraction(1, 48000)
TRAILER = b"PRTA"


@dataclass(frozen=True)
class Clip:
    """Pre-encoded frames, cycled; ``interval`` seconds apart."""

    frames: list[bytes]
    interval: float
    time_base: fractions.Fraction
    step: int


def encode_video(width: int, height: int, fps: int, seconds: int, kbps: int) -> Clip:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = kbps * 1000
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = fps * 2  # a keyframe every two seconds, as a camera would
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    noise = os.urandom(width * height + fps * seconds * 640)
    frames: list[bytes] = []
    for k in range(fps * seconds):
        frame = av.VideoFrame(width, height, "yuv420p")
        luma = frame.planes[0]
        luma.update(noise[k * 640 : k * 640 + luma.buffer_size])
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = k
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    return Clip(frames, 1 / fps, VIDEO_BASE, 90000 // fps)


def encode_voice(seconds: int) -> Clip:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    codec.bit_rate = 32000
    frames: list[bytes] = []
    for k in range(seconds * 50):
        samples = array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * 220 * (k * 960 + i) / 48000))
                for i in range(960)
                for _ in range(2)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate, frame.pts = 48000, k * 960
        frames.extend(bytes(p) for p in codec.encode(frame))
    return Clip(frames, 0.02, AUDIO_BASE, 960)


class ClipTrack(MediaStreamTrack):
    """Sends a clip in real time, already encoded (the sender only packetises it)."""

    def __init__(self, kind: str, clip: Clip, go: asyncio.Event, tag: bool) -> None:
        super().__init__()
        self.kind = kind
        self._clip, self._go, self._tag = clip, go, tag
        self.sent_at: list[float] = []

    async def recv(self) -> Any:
        await self._go.wait()
        k = len(self.sent_at)
        if k == 0:
            self._start = time.monotonic()
        wait = self._start + k * self._clip.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data = self._clip.frames[k % len(self._clip.frames)]
        if self._tag:
            data += TRAILER + struct.pack("!I", k)
        self.sent_at.append(time.monotonic())
        return Encoded(data, k * self._clip.step, self._clip.time_base)


@dataclass
class Arrivals:
    kind: str
    frames: list[tuple[float, int | None]] = field(default_factory=list)
    """(arrival time, the sender's frame index when tagged)."""


class Participant:
    def __init__(self, ws_url: str, key: str, publish: dict[str, ClipTrack]) -> None:
        self._url, self._key, self._publish = ws_url, key, publish
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy="max-bundle"))  # type: ignore[arg-type]
        self.streams: dict[str, Any] = {}
        self.arrivals: dict[str, Arrivals] = {}
        self.me = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self.ready = asyncio.Event()
        self.pc.on("track", self._track)

    async def join(self) -> None:
        self._ws = await websockets.connect(self._url, max_size=None)
        token = {"access_token": self._key, "matrix_server_name": "bench.invalid"}
        await self._ws.send(json.dumps({"type": "join", "call": "room/!bench", "token": token}))
        welcome = json.loads(await self._ws.recv())
        if welcome["type"] != "welcome":
            raise RuntimeError(f"the bench worker refused: {welcome}")
        self.me = welcome["you"]
        self._tasks.append(asyncio.ensure_future(self._read()))

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
                    source = message["publish"].get(str(t.mid))
                    if source is not None:
                        t.direction = "sendonly"
                        if source in self._publish and t.sender.track is None:
                            t.sender.replaceTrack(self._publish[source])
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self._ws.send(
                    json.dumps({"type": "answer", "sdp": self.pc.localDescription.sdp})
                )
                self.ready.set()

    def _track(self, track: MediaStreamTrack) -> None:
        mid = next(str(t.mid) for t in self.pc.getTransceivers() if t.receiver.track is track)
        seen = self.arrivals.setdefault(mid, Arrivals(track.kind))

        async def consume() -> None:
            try:
                while True:
                    frame = await track.recv()
                    index = None
                    if isinstance(frame, Encoded) and frame.data[-8:-4] == TRAILER:
                        index = struct.unpack("!I", frame.data[-4:])[0]
                    seen.frames.append((time.monotonic(), index))
            except MediaStreamError:
                return

        self._tasks.append(asyncio.ensure_future(consume()))

    async def packets(self) -> tuple[int, int]:
        """RTP packets this participant has sent and received so far."""
        sent = received = 0
        for stat in (await self.pc.getStats()).values():
            if stat.type == "outbound-rtp":
                sent += stat.packetsSent
            elif stat.type == "inbound-rtp":
                received += stat.packetsReceived
        return sent, received

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self._ws.close()
        await self.pc.close()


def _profile(
    students: int, speakers: int, cameras: int, clips: dict[str, Clip], go: asyncio.Event, tag: bool
) -> list[dict[str, ClipTrack]]:
    """What each participant sends: the teacher first, then the students."""
    teacher = {
        "audio": ClipTrack("audio", clips["voice"], go, False),
        "camera": ClipTrack("video", clips["camera"], go, tag),
        "screen": ClipTrack("video", clips["screen"], go, tag),
    }
    people = [teacher]
    for i in range(students):
        sends: dict[str, ClipTrack] = {}
        if i < speakers:
            sends["audio"] = ClipTrack("audio", clips["voice"], go, False)
        if i < cameras:
            sends["camera"] = ClipTrack("video", clips["camera"], go, tag)
        people.append(sends)
    return people


async def _status(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        body: dict[str, Any] = (await http.get(f"{url}/calls")).json()
        return body


async def run_profile(
    baseline: bool,
    students: int,
    speakers: int,
    cameras: int,
    clips: dict[str, Clip],
    warmup: float,
    window: float,
) -> dict[str, Any]:
    port = _free_port()
    key = secrets.token_urlsafe(24)
    worker = _start_worker(port, key, baseline)
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url, worker)
        go = asyncio.Event()
        sends = _profile(students, speakers, cameras, clips, go, tag=not baseline)
        people = [Participant(f"ws://127.0.0.1:{port}/ws", key, s) for s in sends]
        for person in people:
            await person.join()
        await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in people)), 60)
        go.set()
        await asyncio.sleep(warmup)
        return await _measure(url, people, sends, window)
    finally:
        for person in locals().get("people", []):
            await person.close()
        worker.terminate()
        worker.wait(10)


async def _measure(
    url: str, people: list[Participant], sends: list[dict[str, ClipTrack]], window: float
) -> dict[str, Any]:
    before = await _status(url)
    packets_before = [await p.packets() for p in people]
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    await asyncio.sleep(window)
    t1 = time.monotonic()
    after = await _status(url)
    packets_after = [await p.packets() for p in people]
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(1.0)  # let the window's last frames arrive
    wall = t1 - t0
    sent_in = sum(a[0] - b[0] for a, b in zip(packets_after, packets_before, strict=True))
    got = sum(a[1] - b[1] for a, b in zip(packets_after, packets_before, strict=True))
    subscribers = len(people) - 1
    expected = delivered = 0
    delays: list[float] = []
    for owner, tracks in zip(people, sends, strict=True):
        for source, track in tracks.items():
            if track.kind != "video":
                continue
            window_frames = {k for k, at in enumerate(track.sent_at) if t0 <= at < t1}
            expected += len(window_frames) * subscribers
            for other in people:
                if other is owner:
                    continue
                mid = next(
                    (
                        m
                        for m, o in other.streams.items()
                        if o and o["participant"] == owner.me and o["source"] == source
                    ),
                    None,
                )
                for at, index in other.arrivals.get(mid, Arrivals("video")).frames if mid else []:
                    if index is not None and index in window_frames:
                        delivered += 1
                        delays.append(at - track.sent_at[index])
                    elif index is None and t0 <= at < t1 + 0.2:
                        delivered += 1  # re-encoded by the baseline: counted by arrival
    cpu = after["cpu_s"] - before["cpu_s"]
    own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    return {
        "cpu_share": round(cpu / wall, 3),
        "rss_mb": round(after["rss_mb"], 1),
        "pps_in": round(sent_in / wall),
        "pps_out": round(got / wall),
        "frames_delivered_ratio": round(delivered / expected, 4) if expected else None,
        "delay_ms_p50": round(statistics.median(delays) * 1000, 1) if delays else None,
        "delay_ms_p95": round(statistics.quantiles(delays, n=20)[18] * 1000, 1)
        if len(delays) > 20
        else None,
        "load_generator_cpu_share": round(own / wall, 3),
        "cpu_s_per_1000_frames": round(cpu / delivered * 1000, 3) if delivered else None,
    }


def _start_worker(port: int, key: str, baseline: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "call_bridge.bench_worker", "--port", str(port)]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [*args, *(["--baseline"] if baseline else [])],
        env={**os.environ, "PARTA_BENCH_KEY": key},
        preexec_fn=die_with_parent,
    )


async def _ready(url: str, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError("the bench worker exited")
            try:
                await http.get(f"{url}/calls")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)  # readiness polling, bounded
    raise RuntimeError("the bench worker did not start")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    install_passthrough()  # the load generator never decodes what it receives
    seconds = int(args.warmup + args.window + 4)
    clips = {
        "camera": encode_video(640, 360, 15, seconds, 500),
        "screen": encode_video(1280, 720, 5, seconds, 600),
        "voice": encode_voice(seconds),
    }
    students = args.participants - 1
    profile = (students, min(3, students), min(3, students), clips, args.warmup, args.window)
    bridge = await run_profile(False, *profile)
    result: dict[str, Any] = {
        "participants": args.participants,
        "profile": "teacher camera 640x360@15 + screen 1280x720@5 + voice; "
        f"{students} students: 3 speaking, 3 cameras, the rest muted",
        "window_s": args.window,
        "bridge_cpu_share": bridge["cpu_share"],
        "bridge_rss_mb": bridge["rss_mb"],
        "pps_in": bridge["pps_in"],
        "pps_out": bridge["pps_out"],
        "frames_delivered_ratio": bridge["frames_delivered_ratio"],
        "added_delay_ms_p50": bridge["delay_ms_p50"],
        "added_delay_ms_p95": bridge["delay_ms_p95"],
        "load_generator_cpu_share": bridge["load_generator_cpu_share"],
        "bridge_cpu_s_per_1000_frames": bridge["cpu_s_per_1000_frames"],
    }
    if not args.no_baseline:
        base = await run_profile(True, *profile)
        result.update(
            {
                "baseline_cpu_share": base["cpu_share"],
                "baseline_rss_mb": base["rss_mb"],
                "baseline_pps_out": base["pps_out"],
                "baseline_frames_delivered_ratio": base["frames_delivered_ratio"],
                "baseline_cpu_s_per_1000_frames": base["cpu_s_per_1000_frames"],
                "ratio_vs_baseline": round(
                    base["cpu_s_per_1000_frames"] / bridge["cpu_s_per_1000_frames"], 1
                )
                if base["cpu_s_per_1000_frames"] and bridge["cpu_s_per_1000_frames"]
                else None,
            }
        )
    return result


def main(args: argparse.Namespace) -> int:
    result = asyncio.run(bench(args))
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))
    return 0
