"""A participant of a call made of a real aiortc peer: it joins through the bridge's
signalling, publishes a camera whose frames carry its own brightness (and a voice of a
given loudness), and decodes what it receives, so a test can tell whose frames arrived.

The tests of the bridge use it, and so does the fault harness's ``bridge-call`` round
(``parta.bench.faults_bridge``). ``parta bench calls`` has lighter peers of its own
(``parta.bench.calls_peers``): they count packets and decode nothing."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import websockets
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack

from kernel.ids import UserID
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack


class ShadeTrack(VideoStreamTrack):
    """A camera (320x180) or a screen of one flat brightness (luma ``shade``), 30 fps."""

    def __init__(self, shade: int, size: tuple[int, int] = (320, 180)) -> None:
        super().__init__()
        self.shade = shade
        self.size = size
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(*self.size, "yuv420p")
        for plane, value in zip(frame.planes, (self.shade, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A voice: a 440 Hz tone of amplitude ``loudness`` (of 32767), 20 ms at a time.

    aiortc's sender measures each frame's level and puts it in the packet (RFC 6464),
    which is what the bridge ranks voices by.
    """

    kind = "audio"

    def __init__(self, loudness: int) -> None:
        super().__init__()
        self._loudness = loudness
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += 960
            wait = self._start + self._pts / 48000 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # real-time pacing of the tone, not a readiness wait
        pts = self._pts
        wave = array(
            "h",
            (
                int(self._loudness * math.sin(2 * math.pi * 440 * (pts + i) / 48000))
                for i in range(960)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(wave.tobytes())
        frame.pts, frame.time_base, frame.sample_rate = pts, fractions.Fraction(1, 48000), 48000
        return frame


def _mean_luma(frame: av.VideoFrame) -> int:
    plane = frame.planes[0]
    data, stride = bytes(plane), plane.line_size
    rows = [data[y * stride : y * stride + frame.width] for y in range(frame.height)]
    return sum(sum(row) for row in rows) // (frame.width * frame.height)


@dataclass
class Received:
    frames: int = 0
    first_at: float | None = None
    shades: list[int] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)
    """The last decoded video frame's width and height."""


class Refused(Exception):
    pass


class CallPeer:
    def __init__(
        self, ws_url: str, call: str, token: dict[str, str], *, relay_only: bool = False
    ) -> None:
        self._ws_url, self._call, self._token = ws_url, call, token
        self._policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
        self._ws: Any = None
        self.pc: RTCPeerConnection | None = None
        self.welcome: dict[str, Any] = {}
        self.streams: dict[str, dict[str, str] | None] = {}
        self.received: dict[str, Received] = {}
        """By mid."""
        self.messages: list[dict[str, Any]] = []
        self.participants: list[dict[str, Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._answered = asyncio.Event()
        self._publish_ready = asyncio.Event()
        self.camera: ShadeTrack | None = None
        self.voice: ToneTrack | None = None
        self.screen: ShadeTrack | None = None

    async def join(self) -> dict[str, Any]:
        self._ws = await websockets.connect(self._ws_url)
        await self._send({"type": "join", "call": self._call, "token": self._token})
        first: dict[str, Any] = json.loads(await self._ws.recv())
        if first["type"] == "refused":
            await self._ws.close()
            raise Refused(first["reason"])
        if first["type"] != "welcome":
            raise RuntimeError(f"the bridge said {first['type']!r} to a join, not welcome")
        self.welcome = first
        ice = [RTCIceServer(**s) for s in first["ice_servers"]]
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=ice,
                bundlePolicy="max-bundle",  # type: ignore[arg-type]
                iceTransportPolicy=self._policy,
            )
        )
        self.pc.on("track", self._on_track)
        self._tasks.append(asyncio.ensure_future(self._read()))
        return first

    async def publish(
        self, shade: int | None, voice: int | None = None, screen: int | None = None
    ) -> None:
        """Answer the bridge's first offer: the camera sends ``shade`` frames when given,
        the microphone a tone of loudness ``voice``, the screen (640x360) ``screen``."""
        self.camera = ShadeTrack(shade) if shade is not None else None
        self.voice = ToneTrack(voice) if voice is not None else None
        self.screen = ShadeTrack(screen, (640, 360)) if screen is not None else None
        self._publish_ready.set()
        await asyncio.wait_for(self._answered.wait(), 20)

    @property
    def cut_off(self) -> bool:
        """The bridge closed the signalling connection (its worker went away)."""
        return bool(self._tasks) and self._tasks[0].done()

    async def _read(self) -> None:
        pc = self.pc
        if pc is None:
            return
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                message = json.loads(raw)
                self.messages.append(message)
                kind = message["type"]
                if kind == "offer":
                    await self._publish_ready.wait()
                    self.streams = message["streams"]
                    await pc.setRemoteDescription(
                        RTCSessionDescription(sdp=message["sdp"], type="offer")
                    )
                    for t in pc.getTransceivers():
                        source = message["publish"].get(str(t.mid))
                        if source is not None:
                            t.direction = "sendonly"
                            if source == "camera" and self.camera is not None:
                                t.sender.replaceTrack(self.camera)
                            if source == "audio" and self.voice is not None:
                                t.sender.replaceTrack(self.voice)
                            if source == "screen" and self.screen is not None:
                                t.sender.replaceTrack(self.screen)
                    answer = await pc.createAnswer()
                    await pc.setLocalDescription(answer)
                    await self._send({"type": "answer", "sdp": pc.localDescription.sdp})
                    self._answered.set()
                elif kind == "streams":
                    self.streams = message["streams"]
                elif kind == "participants":
                    self.participants = message["participants"]

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceivers = self.pc.getTransceivers() if self.pc is not None else []
        mid = next(str(t.mid) for t in transceivers if t.receiver.track is track)
        self._tasks.append(asyncio.ensure_future(self._consume(mid, track)))

    async def _consume(self, mid: str, track: MediaStreamTrack) -> None:
        seen = self.received.setdefault(mid, Received())
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                seen.frames += 1
                if seen.first_at is None:
                    seen.first_at = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    seen.size = (frame.width, frame.height)
                    if seen.frames % 10 == 1:
                        seen.shades.append(_mean_luma(frame))

    def heard_from(self, participant: str) -> int:
        """Audio frames decoded so far from ``participant``'s voice."""
        seen = self.video_from(participant, "audio")
        return seen.frames if seen else 0

    def video_from(self, participant: str, source: str = "camera") -> Received | None:
        """What arrived from ``participant``'s camera (or screen), decoded here."""
        for mid, owner in self.streams.items():
            if owner and owner["participant"] == participant and owner["source"] == source:
                return self.received.get(mid)
        return None

    async def _send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def say(self, message: dict[str, Any]) -> None:
        await self._send(message)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._send({"type": "leave"})
        if self._ws is not None:
            await self._ws.close()
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()


async def mint_openid(client: MatrixClient, http: httpx.AsyncClient, user: str) -> dict[str, str]:
    """What the call page does: the person's own homeserver mints an OpenID token."""
    token = await client.login_as(UserID(user))
    minted = await http.post(
        f"/_matrix/client/v3/user/{user}/openid/request_token",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    if minted.status_code != 200:
        raise RuntimeError(f"no OpenID token for {user}: {minted.text[:200]}")
    body: dict[str, str] = minted.json()
    return body


async def place(stack: SchoolStack, call: str) -> tuple[str, int]:
    """Where the bridge's front puts ``call``: its worker's WebSocket and the worker's index."""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(
            f"{stack.config.call_bridge_url}/api/v1/place", params={"call": call}
        )
    if answer.status_code != 200:
        raise RuntimeError(f"the bridge's front did not place {call}: {answer.text[:200]}")
    return answer.json()["ws_url"], answer.json()["worker"]


async def until(check: object, deadline_s: float = 20.0) -> float:
    """Waits for ``check()`` to hold; returns how long it took (bounded, not a sleep)."""
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > deadline_s:
            raise TimeoutError(f"not within {deadline_s}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started
