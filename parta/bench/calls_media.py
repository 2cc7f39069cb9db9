"""The benchmark's media: encoded once, then sent by every synthetic participant.

Pre-encoded so that the load generator only packetises (field notes: the VP8 encoder
is ~3.9 ms a frame, and the generator shares the machine with the bridge it measures).
Clips go to the generator processes as files: a length-prefixed list of frames.
"""

from __future__ import annotations

import fractions
import math
import os
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

import av

VIDEO_BASE = fractions.Fraction(1, 90000)
AUDIO_BASE = fractions.Fraction(1, 48000)


_HEAD = "!dII"
"""A clip file's head: interval (s), clock rate, timestamp step; then length-prefixed frames."""


@dataclass(frozen=True)
class Clip:
    """Pre-encoded frames, cycled; ``interval`` seconds apart."""

    frames: list[bytes]
    interval: float
    time_base: fractions.Fraction
    step: int

    @property
    def kbps(self) -> float:
        return round(
            sum(len(f) for f in self.frames) * 8 / (len(self.frames) * self.interval) / 1000
        )

    def save(self, path: Path) -> None:
        head = struct.pack(_HEAD, self.interval, self.time_base.denominator, self.step)
        body = b"".join(struct.pack("!I", len(f)) + f for f in self.frames)
        path.write_bytes(head + body)

    @classmethod
    def load(cls, path: Path) -> Clip:
        data = path.read_bytes()
        interval, rate, step = struct.unpack_from(_HEAD, data)
        frames, at = [], struct.calcsize(_HEAD)
        while at < len(data):
            (size,) = struct.unpack_from("!I", data, at)
            frames.append(data[at + 4 : at + 4 + size])
            at += 4 + size
        return cls(frames, interval, fractions.Fraction(1, rate), step)


def encode_video(
    width: int, height: int, fps: int, seconds: int, kbps: int, slide: bool = False
) -> Clip:
    """A camera's picture (noise that moves: hard to compress, as a face and a room are)
    or, with ``slide``, a screen share: a still slide of text lines and a moving pointer."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = kbps * 1000
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = fps * 2  # a keyframe every two seconds, as a camera would
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    noise = os.urandom(width * height + fps * seconds * 640)
    page = _slide(width, height) if slide else b""
    frames: list[bytes] = []
    for k in range(fps * seconds):
        frame = av.VideoFrame(width, height, "yuv420p")
        luma = frame.planes[0]
        if slide:
            luma.update(_pointer(page, width, height, k, luma.line_size))
        else:
            luma.update(noise[k * 640 : k * 640 + luma.buffer_size])
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = k
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    return Clip(frames, 1 / fps, VIDEO_BASE, 90000 // fps)


def _slide(width: int, height: int) -> bytes:
    """A light page with dark lines of "words" on it (luma only)."""
    page = bytearray(b"\xe6" * (width * height))
    for line, top in enumerate(range(height // 8, height - 40, 36)):
        x = width // 12
        while x < width - width // 12:
            word = 20 + (x * 7 + line * 13) % 90
            for y in range(top, top + 16):
                page[y * width + x : y * width + min(x + word, width)] = b"\x28" * (
                    min(x + word, width) - x
                )
            x += word + 14
    return bytes(page)


def _pointer(page: bytes, width: int, height: int, k: int, stride: int) -> bytes:
    """The slide with a pointer (a 24-pixel dark square) moving across it."""
    plane = bytearray(page)
    px, py = (40 + 23 * k) % (width - 24), (60 + 11 * k) % (height - 24)
    for y in range(py, py + 24):
        plane[y * width + px : y * width + px + 24] = b"\x10" * 24
    if stride == width:
        return bytes(plane)
    return b"".join(
        bytes(plane[y * width : (y + 1) * width]) + b"\0" * (stride - width) for y in range(height)
    )


def voice_frame(k: int) -> av.AudioFrame:
    """20 ms of a 220 Hz tone (stereo, 48 kHz): a steady voice."""
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
    return frame


def opus_encoder() -> av.AudioCodecContext:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    codec.bit_rate = 32000
    return codec


def encode_voice(seconds: int) -> Clip:
    codec = opus_encoder()
    frames: list[bytes] = []
    for k in range(seconds * 50):
        frames.extend(bytes(p) for p in codec.encode(voice_frame(k)))
    return Clip(frames, 0.02, AUDIO_BASE, 960)
