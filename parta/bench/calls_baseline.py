"""The benchmark's baseline: the same calls through aiortc's stock ``MediaRelay``.

Stock aiortc decodes every received track; ``MediaRelay`` hands each subscriber a
proxy of the decoded frames, and each subscriber's sender encodes them again. Only
``parta.bench.calls_worker --baseline`` uses this; the bridge never does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from call_bridge.forward import ForwardTrack, Source


class RelaySource:
    """A published track through ``MediaRelay``: one proxy (and one encoder) per subscriber."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        kind: str,
        request_keyframe: Callable[[], None],
        on_first_frame: Callable[[Source], None],
    ) -> None:
        self.kind = kind
        self.frames_in = 0
        self.packets_in = 0  # not counted: the baseline reads decoded frames
        self.paused = False
        self.heard = True
        self.level: int | None = None
        self.last_packet = -1.0
        self._relay = MediaRelay()
        self._track = track = receiver.track
        self._sinks: dict[ForwardTrack, asyncio.Task[Any]] = {}
        self._on_first_frame = on_first_frame
        self._watch = asyncio.ensure_future(self._first(self._relay.subscribe(track)))

    async def _first(self, proxy: MediaStreamTrack) -> None:
        """Counts what arrives (a subscriber of its own, as a listener would be)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await proxy.recv()
                self.frames_in += 1
                if self.frames_in == 1:
                    self._on_first_frame(self)

    @property
    def live(self) -> bool:
        return not self._watch.done()

    def add(self, sink: ForwardTrack) -> None:
        proxy = self._relay.subscribe(self._track)

        async def pump() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await proxy.recv()
                    if not self.paused:
                        sink.offer(frame)

        self._sinks[sink] = asyncio.ensure_future(pump())

    def remove(self, sink: ForwardTrack) -> None:
        task = self._sinks.pop(sink, None)
        if task is not None:
            task.cancel()

    def keyframe_wanted(self) -> None:
        """The sender re-encodes: it makes its own keyframes."""

    def stop(self) -> None:
        self._watch.cancel()
        for sink in list(self._sinks):
            sink.detach()
        self._sinks.clear()
