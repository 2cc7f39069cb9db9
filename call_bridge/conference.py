"""Calls in one bridge process: participants, their peer connections and who sees whom.

Each participant has one ``RTCPeerConnection`` with the bridge. Negotiation has one
direction after the start, so offers never collide (no glare):

only the bridge offers (its header-extension ids and its codecs, VP8 and Opus, stay
the same in every offer), one offer at a time per participant.

1. The first offer holds the participant's three sending slots (``audio``, ``camera``,
   ``screen``: the message's ``publish`` maps each mid to its source); the client
   answers ``sendonly`` on them, with a track or none yet — the camera or the screen
   is switched on later with ``replaceTrack``, which needs no renegotiation.
2. When a publisher's source sends its first frame, every other participant gets a
   receiving slot for it: a freed slot of the same kind is reused without
   renegotiating (a ``streams`` message says who is in it now), else one is added and
   the bridge sends a new offer.

Nothing is decoded: see :mod:`call_bridge.forward`. Of the voices, only the loudest
few are forwarded (:mod:`call_bridge.speakers`), chosen a few times a second.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from call_bridge.attendance import Visit
from call_bridge.forward import EncodedSource, ForwardTrack, Source, SourceFactory
from call_bridge.gate import Admission
from call_bridge.rules import CallId
from call_bridge.speakers import INTERVAL, LOUDEST, QUIET_AFTER, loudest
from kernel.ids import RoomID

log = logging.getLogger(__name__)

SOURCES = ("audio", "camera", "screen")
Send = Callable[[dict[str, Any]], Awaitable[None]]


class UnusableAnswer(Exception):
    """The client's SDP answer could not be applied (its text says why)."""


@dataclass
class Slot:
    transceiver: RTCRtpTransceiver
    track: ForwardTrack
    owner: tuple[str, str] | None = None
    """(publisher id, source) it carries now, or None when free."""


@dataclass
class Participant:
    pid: str
    admission: Admission
    send: Send
    pc: RTCPeerConnection
    joined_at: float = field(default_factory=time.time)
    sources: dict[str, Source] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    """By mid: the bridge's sending transceivers towards this participant."""
    receiving: dict[str, RTCRtpTransceiver] = field(default_factory=dict)
    """Source name → the bridge's receiving transceiver (the client's sending slot)."""
    muted_audio: bool = False
    muted_video: bool = False
    hand: bool = False
    sharing: bool = False
    answer: asyncio.Future[None] | None = None
    """Set once the client's answer to the pending offer is applied."""
    negotiating: asyncio.Lock = field(default_factory=asyncio.Lock)
    needs_offer: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.pid,
            "user": self.admission.user,
            "name": self.admission.name,
            "moderator": self.admission.moderator,
            "muted_audio": self.muted_audio,
            "muted_video": self.muted_video,
            "hand": self.hand,
            "sharing": self.sharing,
        }

    def streams(self) -> dict[str, dict[str, str] | None]:
        """Slots the client knows of (those in an offer already), by mid."""
        return {
            mid: {"participant": s.owner[0], "source": s.owner[1]} if s.owner else None
            for mid, s in self.slots.items()
            if not mid.startswith("pending-")
        }


class Conference:
    def __init__(
        self,
        call: CallId,
        ice_servers: list[RTCIceServer],
        on_empty: Callable[[Conference], None] = lambda c: None,
        on_visit: Callable[[Conference, Visit], None] = lambda c, v: None,
        source: SourceFactory = EncodedSource,
        voices: int | None = LOUDEST,
    ) -> None:
        self._source = source
        self._voices = voices
        """How many voices are forwarded at once (None: every unmuted one)."""
        self._heard: frozenset[str] = frozenset()
        self._choosing: asyncio.Future[None] | None = None
        self.call = call
        self._ice = ice_servers
        self._on_empty = on_empty
        self._on_visit = on_visit
        self.participants: dict[str, Participant] = {}
        self.visits: list[Visit] = []
        self.room = RoomID("")
        self.title = "Звонок"
        self.hosts: set[str] = set()
        """Moderators who came: the widget is put in their name where the bot may not."""
        self.announced = False
        """Whether the room was told of the call (someone who may post there came)."""
        self.announcing: asyncio.Future[None] | None = None
        """The posting of «идёт звонок», which the posting of its end waits for."""
        self.ended = False
        self._tasks: set[asyncio.Future[Any]] = set()

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- arrivals and departures -------------------------------------------------------------

    async def join(self, admission: Admission, send: Send) -> Participant:
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=list(self._ice), bundlePolicy="max-bundle")  # type: ignore[arg-type]
        )
        me = Participant(secrets.token_urlsafe(8), admission, send, pc)
        for name in SOURCES:
            me.receiving[name] = pc.addTransceiver(
                "audio" if name == "audio" else "video", direction="recvonly"
            )
        self.participants[me.pid] = me
        self._on_visit(self, Visit(admission.user, admission.name, me.joined_at, me.joined_at))
        if self._voices is not None and self._choosing is None:
            self._choosing = asyncio.ensure_future(self._choose_voices())
        return me

    def start(self, me: Participant) -> None:
        """After the welcome: the first offer (sending slots, and what is already sent)."""
        self._spawn(self._catch_up(me))

    def stays(self, now: float) -> list[Visit]:
        """Everybody present: their stay so far."""
        return [
            Visit(p.admission.user, p.admission.name, p.joined_at, now)
            for p in self.participants.values()
        ]

    async def leave(self, me: Participant) -> None:
        if self.participants.pop(me.pid, None) is None:
            return
        visit = Visit(me.admission.user, me.admission.name, me.joined_at, time.time())
        self.visits.append(visit)
        self._on_visit(self, visit)
        for source in me.sources.values():
            source.stop()
        for other in self.participants.values():
            for slot in other.slots.values():
                if slot.owner is not None and slot.owner[0] == me.pid:
                    slot.owner = None
            await self._safe_send(other, {"type": "streams", "streams": other.streams()})
        if me.answer is not None and not me.answer.done():
            me.answer.cancel()
        await me.pc.close()
        await self.broadcast_participants()
        if not self.participants:
            if self._choosing is not None:
                self._choosing.cancel()
                self._choosing = None
            self._on_empty(self)

    async def end(self, by: Participant) -> None:
        """A moderator ends the call for everyone."""
        self.ended = True
        for other in list(self.participants.values()):
            await self._safe_send(other, {"type": "ended", "by": by.admission.name})
            await self.leave(other)

    # -- negotiation -------------------------------------------------------------------------

    async def _catch_up(self, me: Participant) -> None:
        """A newcomer subscribes to what is already being sent."""
        await self.broadcast_participants()
        for other in list(self.participants.values()):
            if other is me:
                continue
            for name, source in other.sources.items():
                if source.frames_in > 0 and source.live:
                    self._give_slot(me, other.pid, name, source)
        me.needs_offer = True
        if await self._renegotiate(me):
            self._listen(me)

    def _listen(self, me: Participant) -> None:
        """Once the client has answered the first offer: its three sources go live."""
        for name, transceiver in me.receiving.items():
            receiver = transceiver.receiver

            def request_keyframe(receiver: RTCRtpReceiver = receiver) -> None:
                for ssrc in receiver.getSynchronizationSources():
                    self._spawn(receiver._send_rtcp_pli(ssrc.source))

            def first_frame(source: Source, name: str = name) -> None:
                self._spawn(self._source_started(me, name, source))

            me.sources[name] = self._source(
                receiver, receiver.track.kind, request_keyframe, first_frame
            )
        self.apply_mutes(me)

    async def client_answer(self, me: Participant, sdp: str) -> None:
        """Applies the client's answer to the offer it was sent (one it was not asked for is
        ignored). An answer that cannot be applied raises :class:`UnusableAnswer`: the
        participant's negotiation cannot go on."""
        if me.answer is None or me.answer.done():
            return
        try:
            await me.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as e:  # aiortc's parser raises whatever the text leads it to
            me.answer.cancel()
            raise UnusableAnswer(str(e) or type(e).__name__) from e
        me.answer.set_result(None)

    async def _source_started(self, me: Participant, name: str, source: Source) -> None:
        await self.broadcast_participants()
        for other in list(self.participants.values()):
            if other is not me:
                self._give_slot(other, me.pid, name, source)
                self._spawn(self._renegotiate(other))

    def _give_slot(self, who: Participant, publisher: str, name: str, source: Source) -> None:
        owner = (publisher, name)
        if any(s.owner == owner for s in who.slots.values()):
            return
        free = next(
            (s for s in who.slots.values() if s.owner is None and s.track.kind == source.kind),
            None,
        )
        if free is None:
            track = ForwardTrack(source.kind)
            transceiver = who.pc.addTransceiver(track, direction="sendonly")
            free = Slot(transceiver, track)
            who.needs_offer = True
            who.slots[f"pending-{id(free)}"] = free
        free.owner = owner
        free.track.attach(source)

    async def _renegotiate(self, who: Participant) -> bool:
        """Send the bridge's offer if slots were added; else tell the client the new owners.

        True once the client's answer is applied.
        """
        async with who.negotiating:
            if who.pid not in self.participants:
                return False
            if not who.needs_offer:
                return await self._safe_send(who, {"type": "streams", "streams": who.streams()})
            who.needs_offer = False
            offer = await who.pc.createOffer()
            await who.pc.setLocalDescription(offer)
            pending = {k: s for k, s in who.slots.items() if k.startswith("pending-")}
            for key, slot in pending.items():
                if slot.transceiver.mid is None:  # added while this offer was being made
                    who.needs_offer = True
                    continue
                del who.slots[key]
                who.slots[str(slot.transceiver.mid)] = slot
            loop = asyncio.get_event_loop()
            who.answer = loop.create_future()
            publish = {str(t.mid): name for name, t in who.receiving.items()}
            offer_message = {
                "type": "offer",
                "sdp": who.pc.localDescription.sdp,
                "streams": who.streams(),
                "publish": publish,
            }
            if not await self._safe_send(who, offer_message):
                return False
            try:
                await asyncio.wait_for(who.answer, timeout=20)
            except (TimeoutError, asyncio.CancelledError):
                log.info("participant %s gave no usable answer to the bridge's offer", who.pid)
                return False
            return True

    def apply_mutes(self, who: Participant) -> None:
        """Muted means not sending: the bridge forwards nothing of a muted source either."""
        for name, source in who.sources.items():
            source.paused = (name == "audio" and who.muted_audio) or (
                name == "camera" and who.muted_video
            )

    async def _choose_voices(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            self.choose_voices(time.monotonic())

    def choose_voices(self, now: float) -> None:
        """Forward the loudest voices; one that is not sending keeps its way open."""
        if self._voices is None:
            return
        voices = {
            p.pid: p.sources["audio"] for p in self.participants.values() if "audio" in p.sources
        }
        sending = {
            pid: s.level
            for pid, s in voices.items()
            if not s.paused and now - s.last_packet < QUIET_AFTER
        }
        self._heard = loudest(sending, self._heard, self._voices)
        for pid, source in voices.items():
            source.heard = pid in self._heard or pid not in sending

    # -- the call's shared state -------------------------------------------------------------

    async def broadcast(self, message: dict[str, Any]) -> None:
        for other in list(self.participants.values()):
            await self._safe_send(other, message)

    async def broadcast_participants(self) -> None:
        await self.broadcast(
            {
                "type": "participants",
                "participants": [p.public() for p in self.participants.values()],
            }
        )

    async def _safe_send(self, who: Participant, message: dict[str, Any]) -> bool:
        try:
            await who.send(message)
        except Exception as e:  # a closed socket: that participant is leaving anyway
            log.info("could not reach participant %s: %r", who.pid, e)
            return False
        return True

    def sources(self) -> dict[str, dict[str, int]]:
        """Frames received per participant and source (the benchmark's worker shows it)."""
        return {
            p.pid: {name: s.frames_in for name, s in p.sources.items()}
            for p in self.participants.values()
        }

    def stats(self) -> dict[str, int]:
        frames_in = sum(s.frames_in for p in self.participants.values() for s in p.sources.values())
        slots = [s.track for p in self.participants.values() for s in p.slots.values()]
        sources = [s for p in self.participants.values() for s in p.sources.values()]
        return {
            "participants": len(self.participants),
            "frames_in": frames_in,
            "frames_out": sum(t.frames_out for t in slots),
            "packets_in": sum(s.packets_in for s in sources),
            "packets_out": sum(t.packets_out for t in slots),
            "audio_packets_out": sum(t.packets_out for t in slots if t.kind == "audio"),
            "voices_heard": len(self._heard),
        }
