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


@dataclass(frozen=True)
class Clip:
    """Pre-encoded frames, cycled; ``interval`` seconds apart."""

    frames: list[bytes]
    interval: float
    time_base: fractions.Fraction
    step: int

    def save(self, path: Path) -> None:
        head = struct.pack("!dIII", self.interval, self.time_base.denominator, self.step, 0)
        body = b"".join(struct.pack("!I", len(f)) + f for f in self.frames)
        path.write_bytes(head + body)

    @classmethod
    def load(cls, path: Path) -> Clip:
        data = path.read_bytes()
        interval, rate, step, _ = struct.unpack_from("!dIII", data)
        frames, at = [], struct.calcsize("!dIII")
        while at < len(data):
            (size,) = struct.unpack_from("!I", data, at)
            frames.append(data[at + 4 : at + 4 + size])
            at += 4 + size
        return cls(frames, interval, fractions.Fraction(1, rate), step)


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
