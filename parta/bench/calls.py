"""``parta bench calls``: one class's lesson through the bridge, then through stock MediaRelay.

::

    pre-encode the media once (VP8 camera 640x360@15, VP8 screen 1280x720@5, Opus 20 ms)
      ─▶ bridge worker process (``parta.bench.calls_worker``): the real signalling and
         forwarder; the door takes the benchmark's random key instead of Matrix
      ─▶ the class in three load-generator processes (``parta.bench.calls_peers``): the
         teacher's camera, screen and voice, 3 speaking students, 3 student cameras,
         everybody else muted (not sending); what arrives is counted per packet
      ─▶ warm up (every subscription made), then measure a window: the worker's CPU and
         RSS, packets per second in and out, video frames delivered whole of those sent
         (each frame carries its index after the VP8 data), end-to-end delay
      ─▶ the same with every voice forwarded (``--voices all``), to weigh loudest-N
      ─▶ the same profile through a worker with ``--baseline`` (decode once, MediaRelay,
         re-encode per subscriber): its CPU and delivered share, and the ratio
      ─▶ mixing, measured in this process: decode every voice, mix, encode one mix per
         speaker and one for the listeners — for the profile's voices and for a whole class.

Figures, never assertions. The load generator shares this machine's cores with the
bridge, so its own cost is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import audioop
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import av
import httpx

from kernel.children import die_with_parent
from parta.bench.calls_media import encode_video, encode_voice, opus_encoder, voice_frame

GENERATORS = 3
"""Load-generator processes (a class of 30 is ten each)."""
SPEAKERS = 3
CAMERAS = 3


class Generator:
    """One load-generator process and its pipes."""

    def __init__(self, args: list[str], key: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "parta.bench.calls_peers", *args],
            env={**os.environ, "PARTA_BENCH_KEY": key},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )

    async def read(self) -> str:
        out: IO[bytes] | None = self.process.stdout
        if out is None:
            raise RuntimeError("a load generator has no output")
        line = await asyncio.get_event_loop().run_in_executor(None, out.readline)
        if not line:
            raise RuntimeError(f"a load generator exited ({self.process.poll()})")
        return line.decode().strip()

    def say(self, word: str) -> None:
        pipe = self.process.stdin
        if pipe is None:
            raise RuntimeError("a load generator has no input")
        pipe.write(f"{word}\n".encode())
        pipe.flush()

    def cpu_s(self) -> float:
        return _cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(10)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (``/proc``, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_profile(
    mode: str, participants: int, clips: Path, warmup: float, window: float
) -> dict[str, Any]:
    """One run: ``mode`` is ``loudest``, ``all`` (every voice) or ``baseline``."""
    port = _free_port()
    key = secrets.token_urlsafe(24)
    worker = _start_worker(port, key, mode)
    url = f"http://127.0.0.1:{port}"
    generators: list[Generator] = []
    try:
        await _ready(url, worker)
        share = -(-participants // GENERATORS)
        for first in range(0, participants, share):
            args = [
                *("--ws", f"ws://127.0.0.1:{port}/ws", "--clips", str(clips)),
                *("--students", str(participants - 1), "--speakers", str(SPEAKERS)),
                *("--cameras", str(CAMERAS), "--first", str(first)),
                *("--count", str(min(share, participants - first))),
                *(["--untagged"] if mode == "baseline" else []),
            ]
            generators.append(Generator(args, key))
            if await generators[-1].read() != "ready":  # one at a time: joins stay in order
                raise RuntimeError("a load generator did not get ready")
        for g in generators:
            g.say("go")
        await asyncio.sleep(warmup)
        before, load_before = await _status(url), [g.cpu_s() for g in generators]
        t0 = time.time()  # the generators stamp frames with the same clock
        await asyncio.sleep(window)
        t1 = time.time()
        after, load_after = await _status(url), [g.cpu_s() for g in generators]
        await asyncio.sleep(1.0)  # let the window's last frames arrive
        people: list[dict[str, Any]] = []
        for g in generators:
            g.say("report")
            people.extend(json.loads(await g.read())["people"])
        for g in generators:
            g.say("stop")
        load = sum(a - b for a, b in zip(load_after, load_before, strict=True))
        return _figures(before, after, people, t0, t1, load)
    finally:
        for g in generators:
            g.stop()
        worker.terminate()
        worker.wait(10)


def _figures(
    before: dict[str, Any],
    after: dict[str, Any],
    people: list[dict[str, Any]],
    t0: float,
    t1: float,
    load_cpu_s: float,
) -> dict[str, Any]:
    wall = t1 - t0
    subscribers = len(people) - 1
    sent: dict[tuple[str, str], list[float]] = {
        (p["me"], source): times for p in people for source, times in p["sent"].items()
    }
    window_frames = {
        key: {k for k, at in enumerate(times) if t0 <= at < t1} for key, times in sent.items()
    }
    expected = delivered = 0
    delays: list[float] = []
    for (_, source), frames in window_frames.items():
        if source != "audio":
            expected += len(frames) * subscribers
    audio_packets = 0
    for person in people:
        for got in person["got"]:
            if got["kind"] == "audio":
                audio_packets += got["packets"]
                continue
            owner = (got["owner"], got["source"])
            in_window = window_frames.get(owner, set())
            for at, index in got["frames"]:
                if index >= 0 and index in in_window:
                    delivered += 1
                    delays.append(at - sent[owner][index])
                elif index == -1 and t0 <= at < t1 + 0.2:
                    delivered += 1  # re-encoded by the baseline: counted by arrival
    cpu = after["cpu_s"] - before["cpu_s"]
    stats_b, stats_a = _one_call(before), _one_call(after)

    def rate(key: str) -> int:
        return round(float(stats_a.get(key, 0) - stats_b.get(key, 0)) / wall)

    return {
        "cpu_share": round(cpu / wall, 3),
        "sys_share": round((after["sys_s"] - before["sys_s"]) / wall, 3),
        "rss_mb": round(after["rss_mb"], 1),
        "pps_in": round((after["transport"]["rx"] - before["transport"]["rx"]) / wall),
        # the forwarder sends RTP beside the transport's counters: both are counted
        "pps_out": round((after["transport"]["tx"] - before["transport"]["tx"]) / wall)
        + rate("packets_out"),
        "rtp_pps_out": rate("packets_out"),
        "audio_pps_out": rate("audio_packets_out"),
        "voices_heard": stats_a.get("voices_heard"),
        "audio_packets_received": audio_packets,
        "frames_expected": expected,
        "frames_delivered": delivered,
        "frames_delivered_ratio": round(delivered / expected, 4) if expected else None,
        "delay_ms_p50": round(statistics.median(delays) * 1000, 1) if delays else None,
        "delay_ms_p95": round(statistics.quantiles(delays, n=20)[18] * 1000, 1)
        if len(delays) > 20
        else None,
        "load_generator_cpu_share": round(load_cpu_s / wall, 3),
        "cpu_s_per_1000_frames": round(cpu / delivered * 1000, 3) if delivered else None,
    }


def _one_call(status: dict[str, Any]) -> dict[str, Any]:
    calls = list(status["calls"].values())
    return dict(calls[0]) if calls else {}


def mixing_cpu_share(speakers: int, seconds: float = 4.0) -> float:
    """CPU (share of one core) to mix ``speakers`` voices as an MCU would, in real time.

    Every voice decoded (libopus), summed (C, saturating), and encoded once per speaker
    (the mix without their own voice) and once for everyone else.
    """
    clip = encode_voice(1)
    decoders = []
    for _ in range(speakers):
        decoder = av.CodecContext.create("libopus", "r")
        decoder.sample_rate, decoder.layout = 48000, "stereo"
        decoders.append(decoder)
    encoders = [opus_encoder() for _ in range(speakers + 1)]
    template = voice_frame(0)
    frames = int(seconds * 50)
    start = time.process_time()
    for k in range(frames):
        voices = []
        for decoder in decoders:
            for frame in decoder.decode(av.Packet(clip.frames[k % len(clip.frames)])):
                voices.append(bytes(frame.planes[0])[: frame.samples * 4])  # s16 stereo
        total = voices[0]
        for voice in voices[1:]:
            total = audioop.add(total, voice, 2)
        for i, encoder in enumerate(encoders):
            mix = audioop.add(total, audioop.mul(voices[i], 2, -1), 2) if i < speakers else total
            out = av.AudioFrame(format="s16", layout="stereo", samples=template.samples)
            out.planes[0].update(mix)
            out.sample_rate, out.pts = 48000, k * 960
            encoder.encode(out)
    return round((time.process_time() - start) / seconds, 3)


def _audio(bridge: dict[str, Any], voices: int, participants: int) -> dict[str, Any]:
    """Loudest-N forwarding against mixing, from what was measured.

    Forwarding costs what the bridge's packets cost (its CPU per packet sent, measured in
    this run, times the audio packets it sent). Mixing costs the codec work (measured here:
    decode every voice, encode a mix per speaker and one for everyone else) plus one mixed
    stream of 50 packets a second to each listener at the same cost per packet.
    """
    per_packet = bridge["cpu_share"] / bridge["rtp_pps_out"] if bridge["rtp_pps_out"] else 0.0
    mixed_out = (participants - 1) * 50 * per_packet
    mix_profile, mix_class = mixing_cpu_share(voices), mixing_cpu_share(participants)
    return {
        "voices_unmuted": voices,
        "loudest_forwarded": bridge["voices_heard"],
        "loudest_audio_pps_out": bridge["audio_pps_out"],
        "loudest_audio_cpu_share": round(bridge["audio_pps_out"] * per_packet, 3),
        "mix_codec_cpu_share_profile": mix_profile,
        "mix_codec_cpu_share_whole_class": mix_class,
        "mix_cpu_share_profile": round(mix_profile + mixed_out, 3),
        "mix_cpu_share_whole_class": round(mix_class + mixed_out, 3),
    }


def _start_worker(port: int, key: str, mode: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "parta.bench.calls_worker", "--port", str(port)]
    if mode == "baseline":
        args.append("--baseline")
    elif mode == "all":
        args += ["--voices", "all"]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        args, env={**os.environ, "PARTA_BENCH_KEY": key}, preexec_fn=die_with_parent
    )


async def _status(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        body: dict[str, Any] = (await http.get(f"{url}/calls")).json()
        return body


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
    seconds = int(args.warmup + args.window + 6)
    students = args.participants - 1
    with tempfile.TemporaryDirectory(prefix="parta-bench-calls-") as folder:
        clips = Path(folder)
        media = {
            "camera": encode_video(640, 360, 15, seconds, 500),
            "screen": encode_video(1280, 720, 5, seconds, 600, slide=True),
            "voice": encode_voice(seconds),
        }
        for name, clip in media.items():
            clip.save(clips / f"{name}.clip")
        profile = (args.participants, clips, args.warmup, args.window)
        bridge = await run_profile("loudest", *profile)
        every = await run_profile("all", *profile) if not args.no_compare else None
        base = await run_profile("baseline", *profile) if not args.no_baseline else None
    voices = 1 + min(SPEAKERS, students)
    result: dict[str, Any] = {
        "participants": args.participants,
        "profile": "teacher camera 640x360@15 + screen (a slide and a pointer) 1280x720@5 + "
        f"voice; {students} students: {SPEAKERS} speaking, {CAMERAS} cameras, the rest muted",
        "media_kbps": {name: clip.kbps for name, clip in media.items()},
        "window_s": args.window,
        "bridge_cpu_share": bridge["cpu_share"],
        "bridge_kernel_share": bridge["sys_share"],
        "bridge_rss_mb": bridge["rss_mb"],
        "pps_in": bridge["pps_in"],
        "pps_out": bridge["pps_out"],
        "frames_delivered_ratio": bridge["frames_delivered_ratio"],
        "frames_expected": bridge["frames_expected"],
        "frames_delivered": bridge["frames_delivered"],
        "added_delay_ms_p50": bridge["delay_ms_p50"],
        "added_delay_ms_p95": bridge["delay_ms_p95"],
        "load_generator_cpu_share": bridge["load_generator_cpu_share"],
        "bridge_cpu_s_per_1000_frames": bridge["cpu_s_per_1000_frames"],
        "bridge_us_per_packet_out": round(bridge["cpu_share"] / bridge["rtp_pps_out"] * 1e6, 1)
        if bridge["rtp_pps_out"]
        else None,
        "audio": _audio(bridge, voices, args.participants),
    }
    if every is not None:
        result["audio"].update(
            {
                "all_voices_audio_pps_out": every["audio_pps_out"],
                "all_voices_cpu_share": every["cpu_share"],
                "all_voices_frames_delivered_ratio": every["frames_delivered_ratio"],
            }
        )
    if base is not None:
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
