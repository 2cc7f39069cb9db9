"""One WebSocket per participant: the call's signalling, state and chat (a worker's app).

Messages are JSON objects with a ``type``. The client speaks first::

    → join       {call, token: {access_token, matrix_server_name}}
    ← welcome    {you, moderator, ice_servers, participants, title, chat_mirrored}
                 or ← refused {reason}
    ← offer      {sdp, publish: {mid: audio|camera|screen}, streams}   → answer {sdp}
                 (only the bridge offers: first its sending slots, then whenever it adds
                 receiving slots; the client answers sendonly on the ``publish`` mids)
    ← streams    {streams: {mid: {participant, source} | null}}        (slots reassigned)
    ← participants {participants: [...]}
    → state      {muted_audio, muted_video, sharing}      → hand {raised}      → chat {text}
    → moderate   {action: mute|mute_all|lower_hand|end, target?}
    ← mute       {by}         ← chat {from, user, name, text, ts}   ← ended {by}
    ← error      {reason}     (a moderator's action refused, a chat line too fast)
    → leave

Frames that are not such messages close the connection with a code and a reason
(:mod:`call_bridge.frames`), and so does an answer whose SDP cannot be applied (1007).
The chat is rate-limited per person and mirrored into the room only for those who may
post there (:mod:`call_bridge.chat`, :mod:`call_bridge.matrix_room`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiortc import RTCIceServer
from starlette.websockets import WebSocket, WebSocketDisconnect

from call_bridge.attendance import AttendanceBook, OpenCall, Visit, report, summarise
from call_bridge.chat import MAX_LINE, NOT_MIRRORED, TOO_FAST, Rates
from call_bridge.conference import Conference, Participant, UnusableAnswer
from call_bridge.forward import EncodedSource, SourceFactory
from call_bridge.frames import ProtocolViolation, parse_frame
from call_bridge.gate import Admission
from call_bridge.identity import IdentityRefused, OpenIdToken
from call_bridge.matrix_room import CallRoom
from call_bridge.rules import CallId, CallKind, Refused
from call_bridge.speakers import LOUDEST
from kernel.ids import RoomID

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 30.0
STAY_TICK_S = 10.0
"""How often the stays of people in a call are written down (see ``keep_stays``)."""


class Doorkeeper(Protocol):
    async def admit(self, call: CallId, token: OpenIdToken) -> Admission: ...


@dataclass
class Traces:
    """What calls leave behind: Matrix (widget, chat, reports) and the attendance book."""

    room: CallRoom
    book: AttendanceBook
    page_url: Callable[[CallId], str]
    worker: int
    zone: ZoneInfo


class Calls:
    """The calls this process serves, created on first join and dropped when empty."""

    def __init__(
        self,
        gate: Doorkeeper,
        ice_for: Callable[[Admission], list[RTCIceServer]],
        traces: Traces | None = None,
        source: SourceFactory = EncodedSource,
        voices: int | None = LOUDEST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gate = gate
        self._rates = Rates(clock)
        """The chat's pace, per person across all their connections to this process."""
        self._source = source
        self._voices = voices
        self._ice_for = ice_for
        self._traces = traces
        self.calls: dict[CallId, Conference] = {}
        self._tasks: set[asyncio.Future[Any]] = set()

    async def keep_stays(self) -> None:
        """Every ``STAY_TICK_S`` each present person's stay so far is written down: a worker
        killed mid-call loses at most that much of anybody's attendance."""
        while True:
            await asyncio.sleep(STAY_TICK_S)
            self.write_stays(time.time())

    def write_stays(self, now: float) -> None:
        if self._traces is None:
            return
        for conference in list(self.calls.values()):
            for visit in conference.stays(now):
                self._traces.book.record(str(conference.call), visit)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _conference(
        self, admission: Admission, ice: list[RTCIceServer], may_post: bool
    ) -> Conference:
        conference = self.calls.get(admission.call)
        if conference is None:
            conference = Conference(
                admission.call,
                ice,
                on_empty=self._drop,
                on_visit=self._visit,
                source=self._source,
                voices=self._voices,
            )
            conference.room, conference.title = admission.room, _title(admission)
            self.calls[admission.call] = conference
        if admission.moderator:
            conference.hosts.add(admission.user)
        if may_post and not conference.announced:
            self._announce(conference, admission)
        return conference

    def _announce(self, conference: Conference, admission: Admission) -> None:
        """The widget and «идёт звонок» in the room, once a call has someone who may post
        there: a student alone in the call of «Объявления» makes the bot say nothing."""
        if self._traces is None:
            return
        conference.announced = True
        t = self._traces
        hosts = [str(admission.user)] if admission.moderator else []
        room, title = str(admission.room), conference.title
        t.book.opened(OpenCall(str(admission.call), room, title, t.worker, tuple(hosts)))
        page = t.page_url(admission.call)
        announcing = asyncio.ensure_future(
            t.room.announce(admission.room, page, conference.title, t.worker, hosts)
        )
        conference.announcing = announcing
        self._tasks.add(announcing)
        announcing.add_done_callback(self._tasks.discard)

    def _visit(self, conference: Conference, visit: Visit) -> None:
        if self._traces is not None:
            self._traces.book.record(str(conference.call), visit)

    def _drop(self, conference: Conference) -> None:
        if self.calls.get(conference.call) is not conference:
            return
        del self.calls[conference.call]
        if self._traces is not None:
            self._spawn(self._wrap_up(conference, self._traces))

    async def _wrap_up(self, conference: Conference, traces: Traces) -> None:
        hosts = sorted(conference.hosts)
        if conference.announcing is not None:
            # «звонок завершён» after «идёт звонок», even for a call that ends at once
            await asyncio.gather(conference.announcing, return_exceptions=True)
        if conference.announced:
            await traces.room.finish(conference.room, conference.title, hosts)
            traces.book.closed(str(conference.call), traces.worker)
        await self._report(conference.call, conference.title, hosts, traces)

    @staticmethod
    async def _report(call: CallId, title: str, hosts: list[str], traces: Traces) -> None:
        if call.kind is CallKind.LESSON:
            presence = summarise(traces.book.visits(str(call)))
            text = report(title, presence, traces.zone)
            for host in hosts:
                await traces.room.tell(host, text)

    async def wrap_up_orphans(self) -> int:
        """Calls this worker announced in an earlier life (it was killed mid-call, so no
        one ended them): the widget comes down and the hosts get the attendance, unless
        someone is back in the call here, or another worker holds it now (its widget)."""
        t = self._traces
        if t is None:
            return 0
        done = 0
        for held in t.book.held_by(t.worker):
            call = CallId.parse(held.call)
            if call in self.calls:
                continue  # back in it already: this process's own call now
            room = RoomID(held.room)
            if await t.room.widget_worker(room) == t.worker:
                await t.room.take_widget_down(room, list(held.hosts))
                # another worker may have taken the call between the read and the write: it
                # writes the book before its widget, so the book says so, and its widget
                # goes back up (without a second «идёт звонок»)
                now = t.book.holder(held.call)
                if now is not None and now.worker != t.worker:
                    page = t.page_url(call)
                    await t.room.put_widget(room, page, now.title, now.worker, list(now.hosts))
                    log.info("%s moved to worker %d meanwhile: its widget is up", call, now.worker)
                    continue
                await t.room.say_finished(room, held.title)
            t.book.closed(held.call, t.worker)
            await self._report(call, held.title, list(held.hosts), t)
            done += 1
        if done:
            log.info("worker %d ended %d call(s) its earlier life left open", t.worker, done)
        return done

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await websocket.send_text(json.dumps(message, ensure_ascii=False))

        try:
            first = await asyncio.wait_for(_receive(websocket), JOIN_TIMEOUT)
            if first.get("type") != "join":
                raise Refused("сначала нужно войти в звонок (join)")
            call = CallId.parse(str(first.get("call", "")))
            admission = await self.gate.admit(call, OpenIdToken.from_json(first.get("token")))
        except (Refused, IdentityRefused) as e:
            try:
                await send({"type": "refused", "reason": e.reason})
            except (WebSocketDisconnect, RuntimeError):
                return  # gone before hearing why
            await _close(websocket, 4403)
            return
        except ProtocolViolation as e:
            log.info("connection refused before joining: %d %s", e.code, e.reason)
            await _close(websocket, e.code, e.reason)
            return
        except WebSocketDisconnect:
            return  # gone before joining: nothing to close
        except (TimeoutError, ValueError):
            await _close(websocket, 4400)
            return
        mirrored = await self._mirrored(admission)  # before joining: nothing may reach
        ice = self._ice_for(admission)  # the page before its welcome
        conference = self._conference(admission, ice, mirrored)
        me = await conference.join(admission, send)
        closing: ProtocolViolation | None = None
        try:
            await send(
                {
                    "type": "welcome",
                    "you": me.pid,
                    "moderator": admission.moderator,
                    "ice_servers": [_ice_json(s) for s in ice],
                    "title": _title(admission),
                    "participants": [p.public() for p in conference.participants.values()],
                    "chat_mirrored": mirrored,
                }
            )
            conference.start(me)
            while True:
                message = await _receive(websocket)
                if message.get("type") == "leave" or conference.ended:
                    break
                await self._handle(conference, me, message, mirrored)
        except ProtocolViolation as e:
            log.info("participant %s closed: %d %s", me.pid, e.code, e.reason)
            closing = e
        except (WebSocketDisconnect, RuntimeError) as e:
            log.info("participant %s gone: %r", me.pid, e)
        finally:
            await conference.leave(me)
            if websocket.client_state.name == "CONNECTED":
                if closing is None:
                    await _close(websocket, 1000)
                else:
                    await _close(websocket, closing.code, closing.reason)

    async def _mirrored(self, admission: Admission) -> bool:
        if self._traces is None:
            return False
        return await self._traces.room.may_post(admission.room, admission.user)

    async def _handle(
        self,
        conference: Conference,
        me: Participant,
        message: dict[str, Any],
        mirrored: bool,
    ) -> None:
        kind = message.get("type")
        if kind == "answer":
            sdp = message.get("sdp")
            if not isinstance(sdp, str):
                raise ProtocolViolation(1008, "an answer carries its sdp as a string")
            try:
                await conference.client_answer(me, sdp)
            except UnusableAnswer as e:
                raise ProtocolViolation(1007, f"the answer's SDP cannot be used: {e}") from e
        elif kind == "state":
            me.muted_audio = bool(message.get("muted_audio", me.muted_audio))
            me.muted_video = bool(message.get("muted_video", me.muted_video))
            me.sharing = bool(message.get("sharing", me.sharing))
            conference.apply_mutes(me)
            await conference.broadcast_participants()
        elif kind == "hand":
            me.hand = bool(message.get("raised"))
            await conference.broadcast_participants()
        elif kind == "chat":
            text = message.get("text")
            if not isinstance(text, str):
                raise ProtocolViolation(1008, "a chat line carries its text as a string")
            await self._chat(conference, me, text, mirrored)
        elif kind == "moderate":
            await self._moderate(conference, me, message)

    async def _chat(
        self, conference: Conference, me: Participant, text: str, mirrored: bool
    ) -> None:
        text = text.strip()[:MAX_LINE]
        if not text:
            return
        if not self._rates.take(me.admission.user):
            await me.send({"type": "error", "reason": TOO_FAST})
            return
        who = me.admission
        line = {"type": "chat", "from": me.pid, "user": who.user, "name": who.name, "text": text}
        await conference.broadcast({**line, "ts": int(time.time() * 1000)})
        if self._traces is not None and mirrored:
            self._spawn(self._mirror(conference, me, text))

    async def _mirror(self, conference: Conference, me: Participant, text: str) -> None:
        assert self._traces is not None  # noqa: S101 - checked by the caller
        if not await self._traces.room.mirror(conference.room, me.admission.user, text):
            await me.send({"type": "error", "reason": NOT_MIRRORED})

    async def _moderate(
        self, conference: Conference, me: Participant, message: dict[str, Any]
    ) -> None:
        if not me.admission.moderator:
            await me.send({"type": "error", "reason": "это может только ведущий звонка"})
            return
        action = message.get("action")
        target = conference.participants.get(str(message.get("target", "")))
        if action == "end":
            await conference.end(me)
            return
        targets = (
            [p for p in conference.participants.values() if p is not me]
            if action in ("mute_all", "lower_hands")
            else [target]
            if target is not None
            else []
        )
        for who in targets:
            if action in ("mute", "mute_all"):
                who.muted_audio = True
                conference.apply_mutes(who)
                await who.send({"type": "mute", "by": me.admission.name})
            elif action in ("lower_hand", "lower_hands"):
                who.hand = False
        await conference.broadcast_participants()


def _title(admission: Admission) -> str:
    lesson = admission.lesson
    if lesson is None:
        return f"Звонок: {admission.room_name}" if admission.room_name else "Звонок"
    window = lesson.window
    return (
        f"Дистанционный урок: {lesson.subject} {window.starts_at:%H:%M}–{window.ends_at:%H:%M}"
        + (f", {lesson.class_title}" if lesson.class_title else "")
    )


def _ice_json(server: RTCIceServer) -> dict[str, Any]:
    body: dict[str, Any] = {"urls": server.urls}
    if server.username:
        body["username"] = server.username
        body["credential"] = server.credential
    return body


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close, unless the other side has gone meanwhile (then there is nobody to tell)."""
    try:
        await websocket.close(code=code, reason=reason)
    except (WebSocketDisconnect, RuntimeError) as e:
        log.info("closing %d: the other side had gone (%r)", code, e)


async def _receive(websocket: WebSocket) -> dict[str, Any]:
    """The next message, or :class:`ProtocolViolation` for a frame that is not one."""
    frame = await websocket.receive()
    if frame["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(frame.get("code", 1000))
    return parse_frame(frame)
