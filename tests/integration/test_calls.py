"""Calls through the real bridge: its front, its worker processes, Synapse and the diary.

Every participant is a real aiortc peer that decodes what it receives; each camera
has its own brightness, so a frame is traced back to whoever sent it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from appservice.diary_sync.layout import RoomKind, lesson_room, room_key
from appservice.diary_sync.model import Diary
from appservice.diary_sync.timetable import Timetable
from appservice.school_sync import SchoolSync, SyncOptions
from call_bridge.attendance import AttendanceBook
from call_bridge.matrix_room import DM_TAG, WIDGET_KEY, WIDGET_TYPE
from call_bridge.rules import CallId
from call_bridge.worker import attendance_url
from kernel.ids import RoomAlias, RoomID, SourcedId
from kernel.matrix import MatrixClient, MatrixError
from parta.bench.call_peer import CallPeer, Received, Refused, mint_openid, place, until
from parta.bench.faults_bridge import (
    front_sees,
    host_and_guest,
    stays_until,
    widget_until,
    widget_worker,
    worker_pid,
)
from parta.stack import SchoolStack
from tests.browser import SCREENSHOTS, accessibility_problems
from tests.metrics import scrape, value
from tests.school import small_school
from web_client.store import DistanceLesson

PREFIX = "call"


@dataclass(frozen=True)
class Lessons:
    diary: Diary
    open_5a: str
    open_5b: str
    later_5a: str
    attended_5b: str
    crashed_5a: str
    rejoined_5a: str


def _sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


@pytest.fixture(scope="module")
async def lessons(stack: SchoolStack, school: SchoolSync) -> Lessons:
    diary = small_school(PREFIX)
    await school.run(diary, SyncOptions(eager=True))
    now = datetime.now(ZoneInfo(stack.config.diary.timezone)).replace(tzinfo=None, microsecond=0)
    store = stack.open_diary_store()

    def add(name: str, class_id: str, start: timedelta) -> str:
        starts = now + start
        lesson_id = f"{_sid(name)}@{starts.date().isoformat()}"
        lesson = DistanceLesson(
            lesson_id,
            _sid(class_id),
            starts,
            starts + timedelta(minutes=45),
            "Математика",
            _sid("t4"),
        )
        store.add_distance_lesson(lesson, now)
        return lesson_id

    try:
        store.load(diary, Timetable())
        found = Lessons(
            diary,
            add("open-5a", "5a-math", timedelta(minutes=-5)),
            add("open-5b", "5b-math", timedelta(minutes=-5)),
            add("later-5a", "5a-math", timedelta(hours=2)),
            add("attended-5b", "5b-math", timedelta(minutes=-10)),
            add("crashed-5a", "5a-math", timedelta(minutes=-5)),
            add("rejoined-5a", "5a-math", timedelta(minutes=-5)),
        )
    finally:
        store.close()
    return found


async def openid(
    client: MatrixClient, school: SchoolSync, http: httpx.AsyncClient, person: str
) -> dict[str, str]:
    return await mint_openid(client, http, school.puppet_id(_sid(person)))


async def test_a_teacher_and_a_student_receive_each_other_s_camera_decoded(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    call = f"lesson/{lessons.open_5a}"
    ws_url, worker = await place(stack, call)
    teacher = CallPeer(ws_url, call, await openid(client, school, http, "t4"))
    student = CallPeer(ws_url, call, await openid(client, school, http, "s1"))
    try:
        welcome = await teacher.join()
        assert welcome["moderator"] is True
        assert welcome["title"].startswith("Дистанционный урок: Математика")
        await teacher.publish(shade=200)
        assert (await student.join())["moderator"] is False
        await student.publish(shade=60)
        t_id, s_id = teacher.welcome["you"], student.welcome["you"]

        def both_see() -> bool:
            a, b = student.video_from(t_id), teacher.video_from(s_id)
            return bool(a and b and len(a.shades) >= 3 and len(b.shades) >= 3)

        await until(both_see)
        from_teacher = student.video_from(t_id)
        from_student = teacher.video_from(s_id)
        assert from_teacher is not None
        assert from_student is not None
        assert all(abs(s - 200) < 12 for s in from_teacher.shades), from_teacher.shades
        assert all(abs(s - 60) < 12 for s in from_student.shades), from_student.shades
        names = {p["name"] for p in student.participants}
        assert len(names) == 2
        # the worker that forwards it counts the call, its two people and the packets
        seen = await scrape(stack.config.metrics_urls[f"call_bridge_worker_{worker}"])
        assert value(seen, "parta_call_bridge_calls") >= 1
        assert value(seen, "parta_call_bridge_participants") >= 2
        assert value(seen, "parta_call_bridge_packets_total", direction="in") > 0
        assert value(seen, "parta_call_bridge_packets_total", direction="out") > 0
        assert value(seen, "process_cpu_seconds_total") > 0
    finally:
        await student.close()
        await teacher.close()


async def test_a_late_joiner_gets_a_keyframe_within_two_seconds(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    """The teacher's encoder makes a keyframe every 3000 frames: only a forwarded PLI helps."""
    call = f"lesson/{lessons.open_5a}"
    ws_url, _ = await place(stack, call)
    teacher = CallPeer(ws_url, call, await openid(client, school, http, "t4"))
    late = CallPeer(ws_url, call, await openid(client, school, http, "s2"))
    try:
        await teacher.join()
        await teacher.publish(shade=180)
        assert teacher.camera is not None
        camera = teacher.camera
        await until(lambda: camera.sent > 60)  # two seconds of video before the late joiner
        await late.join()
        joined = time.monotonic()
        await late.publish(shade=None)
        t_id = teacher.welcome["you"]

        def first_frame() -> Received | None:
            seen = late.video_from(t_id)
            return seen if seen and seen.first_at else None

        await until(first_frame, deadline_s=10)
        seen = first_frame()
        assert seen is not None
        assert seen.first_at is not None
        waited = seen.first_at - joined
        print(f"late joiner's first decoded frame {waited:.2f}s after joining")
        assert waited < 2.0
    finally:
        await late.close()
        await teacher.close()


async def test_two_lessons_at_once_land_on_two_worker_processes_and_both_deliver(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    calls = [f"lesson/{lessons.open_5a}", f"lesson/{lessons.open_5b}"]
    pairs = []
    try:
        for call, (teacher, student) in zip(calls, (("t1", "s3"), ("t2", "s4")), strict=True):
            ws_url, worker = await place(stack, call)
            a = CallPeer(ws_url, call, await openid(client, school, http, teacher))
            b = CallPeer(ws_url, call, await openid(client, school, http, student))
            await a.join()
            await a.publish(shade=150)
            await b.join()
            await b.publish(shade=None)
            pairs.append((worker, a, b))
        assert {worker for worker, _, _ in pairs} == {0, 1}
        for _, a, b in pairs:
            t_id = a.welcome["you"]
            await until(lambda b=b, t_id=t_id: bool((r := b.video_from(t_id)) and r.frames > 30))
        for _, _, b in pairs:  # every packet the bridge forwarded arrived: no frame is missing
            assert b.pc is not None
            inbound = [s for s in (await b.pc.getStats()).values() if s.type == "inbound-rtp"]
            video = [s for s in inbound if s.kind == "video"]
            assert video, inbound
            assert video[0].packetsReceived > 30, inbound
            assert video[0].packetsLost == 0, video[0]
        token = stack.config.bridge_token_file.read_text().strip()
        async with httpx.AsyncClient(timeout=10) as status:
            for worker, a, _ in pairs:
                url = f"http://127.0.0.1:{stack.config.call_bridge.port + 1 + worker}/calls"
                assert (await status.get(url)).status_code == 401  # room ids for nobody else
                mine = {"Authorization": f"Bearer {token}"}
                held = (await status.get(url, headers=mine)).json()["calls"]
                assert list(held) == [str(calls[pairs.index((worker, a, _))])]
    finally:
        for _, a, b in pairs:
            await b.close()
            await a.close()


def _worker_pid(stack: SchoolStack, index: int) -> int:
    """The bridge's worker process ``index`` (a child of the bridge's front)."""
    assert stack.bridge is not None
    pid = worker_pid(stack.bridge.pid, index)
    assert pid is not None, f"no worker {index}"
    return pid


async def test_a_killed_worker_s_people_are_cut_off_rejoin_on_a_live_one_and_it_comes_back(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    """Issue 17.2: kill -9 a bridge worker during a call."""
    call = f"lesson/{lessons.open_5b}"
    since = time.time()  # other tests hold this lesson too
    ws_url, worker = await place(stack, call)
    before = _worker_pid(stack, worker)
    peers: list[CallPeer] = []

    async def join_at(ws_url: str) -> tuple[CallPeer, CallPeer]:
        host, guest = [await openid(client, school, http, p) for p in ("t2", "s5")]
        return await host_and_guest(ws_url, call, host, guest, peers)

    try:
        teacher, student = await join_at(ws_url)
        os.kill(before, signal.SIGKILL)
        await until(lambda: teacher.cut_off and student.cut_off)  # both are told at once
        ws_url, placed = await place(stack, call)  # the page asks where to go again
        again = await join_at(ws_url)
        started = await front_sees(stack.config.call_bridge_url, [0, 1])
        assert started, "the killed worker was not started again"
        assert _worker_pid(stack, worker) != before
        assert placed in (0, 1)
        room = await _lesson_room(stack, client, lessons, "5b-math")
        # the widget names the live worker now: Element's button opens the call where it is
        assert await widget_until(client, room, lambda w: widget_worker(w) == placed)
        for peer in again:  # the second stays end
            await peer.close()
        book = AttendanceBook(attendance_url(stack.config))
        try:
            stays = await stays_until(book, call, since, total=4, ended=2)
        finally:
            book.close()
        by_user = Counter(v.user for v in stays)
        assert by_user == {str(school.puppet_id(_sid(p))): 2 for p in ("t2", "s5")}, stays
        assert await widget_until(client, room, lambda w: w == {})  # over: no button left
    finally:
        for peer in reversed(peers):
            await peer.close()


async def test_a_call_a_killed_worker_left_open_is_ended_when_the_worker_is_back(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    """Nobody comes back to a call whose worker was killed: its widget («идёт звонок»)
    must not stay in the room for good."""
    call = f"lesson/{lessons.crashed_5a}"
    room = await _lesson_room(stack, client, lessons, "5a-math")
    ws_url, worker = await place(stack, call)
    before = _worker_pid(stack, worker)
    teacher = CallPeer(ws_url, call, await openid(client, school, http, "t4"))
    try:
        await teacher.join()
        await teacher.publish(shade=90)
        assert await widget_until(client, room, lambda w: widget_worker(w) == worker)
        os.kill(before, signal.SIGKILL)
        await until(lambda: teacher.cut_off)
        assert await widget_until(client, room, lambda w: w == {}, deadline_s=60)
        assert _worker_pid(stack, worker) != before  # ended by the worker's next life
    finally:
        await teacher.close()


async def _lesson_room(
    stack: SchoolStack, client: MatrixClient, lessons: Lessons, group: str
) -> RoomID:
    alias = f"#{lesson_room(lessons.diary, _sid(group))}:{stack.config.server_name}"
    room = await client.resolve_alias(RoomAlias(alias))
    assert room is not None
    return room


@pytest.mark.parametrize(
    ("who", "lesson", "token_change", "reason"),
    [
        ("s4", "open_5a", None, "не участник"),  # a student of 5Б at 5А's lesson
        ("s1", "later_5a", None, "Урок еще не начался"),
        ("s1", "open_5a", "forged", "недействителен"),
        ("s1", "open_5a", "other-server", "не входит в сеть"),
    ],
)
async def test_who_is_refused_and_why(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    who: str,
    lesson: str,
    token_change: str | None,
    reason: str,
) -> None:
    call = f"lesson/{getattr(lessons, lesson)}"
    ws_url, _ = await place(stack, call)
    token = await openid(client, school, http, who)
    if token_change == "forged":
        token = {**token, "access_token": "forged" + token["access_token"][6:]}
    elif token_change == "other-server":
        token = {**token, "matrix_server_name": "evil.example"}
    peer = CallPeer(ws_url, call, token)
    with pytest.raises(Refused, match=reason):
        await peer.join()


async def test_a_used_token_does_not_open_another_room_s_call(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    """Each token opens one door once: replayed, or carried to another call, it is refused."""
    token = await openid(client, school, http, "t4")  # t4 teaches both 5А and 5Б
    first = f"lesson/{lessons.open_5a}"
    ws_url, _ = await place(stack, first)
    peer = CallPeer(ws_url, first, token)
    await peer.join()
    await peer.close()
    other = f"lesson/{lessons.open_5b}"
    ws_url, _ = await place(stack, other)
    with pytest.raises(Refused, match="уже использован"):
        await CallPeer(ws_url, other, token).join()


async def _page_signed_in(
    browser: Browser,
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    person: str,
    phone: bool = False,
) -> Page:
    """A page whose tab holds the person's Matrix session (what the SSO round trip leaves)."""
    user = school.puppet_id(_sid(person))
    session = {
        "homeserver": stack.config.homeserver_public_url,
        "user_id": user,
        "access_token": await client.login_as(user),
    }
    size = ViewportSize(width=390, height=844) if phone else ViewportSize(width=1280, height=760)
    context = await browser.new_context(
        viewport=size, locale="ru-RU", is_mobile=phone, has_touch=phone
    )
    await context.add_init_script(
        f"sessionStorage.setItem('parta.matrix', {json.dumps(json.dumps(session))})"
    )
    return await context.new_page()


@dataclass
class _Lesson:
    """What the Chromium tests share: a Python teacher in the lesson, a student's page."""

    stack: SchoolStack
    client: MatrixClient
    school: SchoolSync
    http: httpx.AsyncClient
    browser: Browser
    call: str


@contextlib.asynccontextmanager
async def _teacher_and_page(
    lesson: _Lesson, student: str, join: str, **publish: int
) -> AsyncIterator[tuple[CallPeer, Page]]:
    """The teacher (a Python peer) publishes ``publish``; ``student`` joins in Chromium
    with the ``join`` button. Both leave at the end."""
    ws_url, _ = await place(lesson.stack, lesson.call)
    teacher = CallPeer(
        ws_url, lesson.call, await openid(lesson.client, lesson.school, lesson.http, "t4")
    )
    page = await _page_signed_in(
        lesson.browser, lesson.stack, lesson.client, lesson.school, student
    )
    try:
        await teacher.join()
        await teacher.publish(**publish)
        await page.goto(f"{lesson.stack.config.call_bridge_url}/{lesson.call}")
        await page.get_by_role("button", name=join).click()
        await expect(page.get_by_test_id("room")).to_be_visible()
        yield teacher, page
    finally:
        await page.context.close()
        await teacher.close()


async def test_chromium_joins_a_lesson_and_sees_a_python_peer_and_vice_versa(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    lesson = _Lesson(stack, client, school, http, browser, f"lesson/{lessons.open_5a}")
    async with _teacher_and_page(lesson, "s3", "Присоединиться с видео", shade=200) as (
        teacher,
        page,
    ):
        await expect(page.get_by_test_id("title")).to_contain_text("Дистанционный урок")
        # the person by name, not by Matrix id (the id stays in the tooltip)
        who = page.get_by_test_id("who")
        await expect(who).to_have_text(re.compile(r"^Вы входите как [^@:]+$"))
        await expect(who).to_have_attribute("title", school.puppet_id(_sid("s3")))
        teacher_id = teacher.welcome["you"]
        await page.wait_for_function(
            """(id) => {
                const v = document.querySelector(`[data-participant="${id}"] video`);
                return v && v.videoWidth > 0 && v.currentTime > 0.5;
            }""",
            arg=teacher_id,
            timeout=20000,
        )
        student_user = school.puppet_id(_sid("s3"))

        def student_video() -> Received | None:
            pid = next((p["id"] for p in teacher.participants if p["user"] == student_user), "")
            seen = teacher.video_from(pid)
            return seen if seen and seen.frames > 15 else None

        await until(student_video)
        for control in (
            "Чат",
            "Демонстрировать экран",
            "Поднять руку",
            "Камера",
            "Микрофон",
            "Выйти",
            "Участники",
            "Отображение участников",
            "Настройки",
            "Свернуть звонок",
            "Развернуть звонок",
        ):  # the seed's eleven controls, each a labelled button
            await expect(page.get_by_role("button", name=control, exact=True)).to_be_visible()
        await page.get_by_role("button", name="Поднять руку", exact=True).click()
        await until(lambda: any(p["hand"] for p in teacher.participants))
        await page.get_by_role("button", name="Чат", exact=True).click()
        await expect(page.get_by_test_id("chat-note")).to_be_hidden()  # the class chat keeps it
        await page.get_by_label("Сообщение").fill("Здравствуйте!")
        await page.get_by_role("button", name="Отправить").click()
        await until(lambda: any(m.get("text") == "Здравствуйте!" for m in teacher.messages))
        await page.screenshot(path=SCREENSHOTS / "call-lesson.png")
        # «Демонстрировать экран»: Chromium's screen (its fake capture, 1280x720) reaches the
        # Python peer as a second video stream, decoded there
        share = page.get_by_role("button", name="Демонстрировать экран", exact=True)
        await share.click()
        await expect(share).to_have_attribute("aria-pressed", "true")

        def student_screen() -> Received | None:
            pid = next((p["id"] for p in teacher.participants if p["user"] == student_user), "")
            seen = teacher.video_from(pid, "screen")
            return seen if seen and seen.frames > 10 else None

        await until(student_screen)
        screen = student_screen()
        assert screen is not None
        width, height = screen.size
        assert width >= 320
        assert abs(width / height - 16 / 9) < 0.05, screen.size
        await share.click()  # stop sharing
        await expect(share).to_have_attribute("aria-pressed", "false")


async def test_a_page_whose_worker_was_killed_joins_again_by_itself_on_a_live_one(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    """Issue 17.2: the student's page is told the connection is lost, is placed again and
    is back in the lesson with her camera, without a click; the teacher sees her again."""
    lesson = _Lesson(stack, client, school, http, browser, f"lesson/{lessons.rejoined_5a}")
    student_user = school.puppet_id(_sid("s3"))
    async with _teacher_and_page(lesson, "s3", "Присоединиться с видео", shade=200) as (
        teacher,
        page,
    ):
        await until(lambda: _video_of(teacher, student_user))
        _, worker = await place(stack, lesson.call)  # where the call is held
        os.kill(_worker_pid(stack, worker), signal.SIGKILL)
        await until(lambda: teacher.cut_off)
        await expect(page.get_by_test_id("status")).to_have_text(
            "Связь со звонком потеряна. Подключаемся снова…"
        )
        ws_url, _ = await place(stack, lesson.call)
        again = CallPeer(ws_url, lesson.call, await openid(client, school, http, "t4"))
        try:
            await again.join()
            await again.publish(shade=200)
            await until(lambda: _video_of(again, student_user), deadline_s=40)
            await expect(page.locator("#call")).to_have_attribute("data-state", "in-call")
            await expect(page.get_by_test_id("status")).to_have_text("В звонке")
        finally:
            await again.close()


def _video_of(peer: CallPeer, user: str) -> Received | None:
    """``user``'s camera as ``peer`` decodes it, once it has some frames."""
    pid = next((p["id"] for p in peer.participants if p["user"] == user), "")
    seen = peer.video_from(pid)
    return seen if seen and seen.frames > 10 else None


async def test_a_student_s_page_in_the_announcements_call_says_its_chat_stays_in_the_call(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    """«Объявления» is for the school's staff: a student's line there is for the call only,
    and the page says so before she writes."""
    alias = f"#{room_key(_sid('org'), RoomKind.ANNOUNCEMENTS)}:{stack.config.server_name}"
    room = await client.resolve_alias(RoomAlias(alias))
    assert room is not None
    call = _Lesson(stack, client, school, http, browser, f"room/{room}")
    async with _teacher_and_page(call, "s3", "Присоединиться с аудио", shade=120) as (
        teacher,
        page,
    ):
        await page.get_by_role("button", name="Чат", exact=True).click()
        note = page.get_by_test_id("chat-note")
        await expect(note).to_be_visible()
        await expect(note).to_contain_text("Чат звонка не сохраняется в чате комнаты")
        forged = "Внимание: уроки завтра отменены"
        await page.get_by_label("Сообщение").fill(forged)
        await page.get_by_role("button", name="Отправить").click()
        await until(lambda: any(m.get("text") == forged for m in teacher.messages))
        await expect(page.get_by_test_id("chat-log")).to_contain_text(forged)
        await page.screenshot(path=SCREENSHOTS / "call-chat-not-mirrored.png")
    assert not any(forged in _body(e) for e in await _messages(client, room))


async def test_leaving_ending_and_minimising_are_clear_on_the_teacher_s_page(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    """Issue 21, item 9: «Развернуть» stays when minimised; «Завершить для всех» asks first;
    after «Выйти» nothing of the call is left, «Вы вышли из звонка» and the way back."""
    call = f"lesson/{lessons.open_5a}"
    ws_url, _ = await place(stack, call)
    student = CallPeer(ws_url, call, await openid(client, school, http, "s3"))
    page = await _page_signed_in(browser, stack, client, school, "t4")
    try:
        await student.join()
        await student.publish(shade=150)
        await page.goto(f"{stack.config.call_bridge_url}/{call}")
        await page.get_by_role("button", name="Присоединиться с аудио").click()
        await expect(page.get_by_test_id("room")).to_be_visible()
        await expect(page.get_by_test_id("title")).to_contain_text("Дистанционный урок")

        await page.get_by_role("button", name="Свернуть звонок", exact=True).click()
        restore = page.get_by_role("button", name="Развернуть звонок", exact=True)
        await expect(restore).to_be_visible()
        await expect(page.get_by_role("button", name="Выйти", exact=True)).to_be_visible()
        await restore.click()
        await expect(page.get_by_test_id("call-page")).not_to_have_class(re.compile("minimised"))

        await page.get_by_role("button", name="Завершить для всех", exact=True).click()
        confirm = page.get_by_role("dialog", name="Завершить звонок для всех?")
        await expect(confirm).to_be_visible()
        await confirm.get_by_role("button", name="Отмена").click()
        await expect(confirm).to_be_hidden()
        await expect(page.get_by_test_id("room")).to_be_visible()
        assert not any(m.get("type") == "ended" for m in student.messages)  # nothing sent

        await page.get_by_role("button", name="Выйти", exact=True).click()
        await expect(page.get_by_test_id("left-title")).to_have_text("Вы вышли из звонка")
        await expect(page.get_by_test_id("room")).to_be_hidden()
        await expect(page.locator("[data-participant]")).to_have_count(0)  # no old tiles
        await page.get_by_role("button", name="Вернуться в звонок").click()
        await page.get_by_role("button", name="Присоединиться с аудио").click()
        await expect(page.get_by_test_id("room")).to_be_visible()

        await page.get_by_role("button", name="Завершить для всех", exact=True).click()
        await confirm.get_by_role("button", name="Завершить для всех").click()
        await until(lambda: any(m.get("type") == "ended" for m in student.messages))
        await expect(page.get_by_test_id("left-title")).to_have_text("Звонок завершён")
    finally:
        await page.context.close()
        await student.close()


async def test_on_a_phone_every_control_of_the_call_is_on_screen_even_with_the_chat_open(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    """Issue 21, item 8: on a 390×844 screen «Чат» used to cover the call so that «Выйти»
    could not be pressed; now every control stays on screen, nothing is wider than it."""
    call = f"lesson/{lessons.open_5a}"
    ws_url, _ = await place(stack, call)
    student = CallPeer(ws_url, call, await openid(client, school, http, "s3"))
    page = await _page_signed_in(browser, stack, client, school, "t4", phone=True)
    try:
        await student.join()
        await student.publish(shade=150)
        await page.goto(f"{stack.config.call_bridge_url}/{call}")
        await page.get_by_role("button", name="Присоединиться с аудио").click()
        await expect(page.get_by_test_id("room")).to_be_visible()
        controls = page.get_by_role("navigation", name="Управление звонком").get_by_role("button")
        await page.get_by_role("button", name="Чат", exact=True).click()
        await expect(page.get_by_role("complementary", name="Чат")).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / "call-phone.png")
        for button in await controls.all():
            if await button.is_visible():
                await expect(button).to_be_in_viewport()
        width = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert width == 0
        await page.get_by_label("Сообщение").fill("Видно?")
        await page.get_by_role("button", name="Отправить").click()
        await expect(page.get_by_test_id("chat-log")).to_contain_text("Видно?")
        await page.get_by_role("button", name="Выйти", exact=True).click()  # not covered
        await expect(page.get_by_test_id("left-title")).to_have_text("Вы вышли из звонка")
    finally:
        await page.context.close()
        await student.close()


async def test_the_call_page_meets_wcag_aa_and_works_from_the_keyboard_alone(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    """Issue 21, item 11: axe-core finds no serious or critical WCAG 2.1 AA violation before
    joining, in the call with its panels, in the «end for all?» question and after leaving;
    the controls work with Tab and Enter/Space only."""
    call = f"lesson/{lessons.open_5a}"
    ws_url, _ = await place(stack, call)
    student = CallPeer(ws_url, call, await openid(client, school, http, "s3"))
    page = await _page_signed_in(browser, stack, client, school, "t4")
    try:
        await student.join()
        await student.publish(shade=150)
        await page.goto(f"{stack.config.call_bridge_url}/{call}")
        join = page.get_by_role("button", name="Присоединиться с аудио")
        await expect(join).to_be_visible()
        problems = await accessibility_problems(page, "before joining")

        async def tab_to(name: str) -> None:
            for _ in range(40):
                await page.keyboard.press("Tab")
                focused = await page.evaluate(
                    "() => document.activeElement?.getAttribute('aria-label')"
                    " || document.activeElement?.textContent.trim()"
                )
                if focused == name:
                    return
            raise AssertionError(f"«{name}» cannot be reached with Tab")

        await tab_to("Присоединиться с аудио")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("room")).to_be_visible()
        await tab_to("Чат")
        await page.keyboard.press("Space")
        await expect(page.get_by_role("complementary", name="Чат")).to_be_visible()
        problems += await accessibility_problems(page, "in the call, the chat open")
        await tab_to("Участники")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("complementary", name="Участники")).to_be_visible()
        problems += await accessibility_problems(page, "in the call, the people open")
        await tab_to("Завершить для всех")
        await page.keyboard.press("Enter")
        confirm = page.get_by_role("dialog", name="Завершить звонок для всех?")
        await expect(confirm).to_be_visible()
        problems += await accessibility_problems(page, "«Завершить звонок для всех?»")
        await page.keyboard.press("Escape")
        await expect(confirm).to_be_hidden()
        await tab_to("Выйти")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("left-title")).to_have_text("Вы вышли из звонка")
        problems += await accessibility_problems(page, "after leaving")
        assert problems == [], "\n".join(problems)
    finally:
        await page.context.close()
        await student.close()


async def test_a_teacher_s_screen_is_the_main_tile_of_chromium_s_speaker_layout(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
    browser: Browser,
) -> None:
    lesson = _Lesson(stack, client, school, http, browser, f"lesson/{lessons.open_5a}")
    async with _teacher_and_page(lesson, "s2", "Присоединиться с аудио", shade=200, screen=90) as (
        teacher,
        page,
    ):
        layout = page.get_by_role("button", name="Отображение участников", exact=True)
        await layout.click()
        await expect(layout).to_have_attribute("aria-pressed", "true")
        await expect(page.get_by_test_id("stage")).to_have_attribute("data-layout", "speaker")
        tile = f'[data-tile="screen-{teacher.welcome["you"]}"]'
        screen = page.locator(tile)
        await expect(screen).to_have_class(re.compile(r"\bmain\b"), timeout=20000)
        await expect(screen).to_contain_text("экран")
        brightness = """(box) => {
            const v = box.querySelector("video");
            if (!v || v.videoWidth === 0 || v.currentTime < 0.5) return -1;
            const c = document.createElement("canvas");
            c.width = 32; c.height = 18;
            const g = c.getContext("2d");
            g.drawImage(v, 0, 0, 32, 18);
            const px = g.getImageData(0, 0, 32, 18).data;
            let sum = 0;
            for (let i = 0; i < px.length; i += 4) sum += px[i + 1];
            return sum / (px.length / 4);
        }"""
        camera = page.locator(f'[data-tile="camera-{teacher.welcome["you"]}"]')
        await page.wait_for_function(
            f"(tile) => ({brightness})(document.querySelector(tile)) > 0", arg=tile, timeout=20000
        )
        screen_shade = await screen.evaluate(brightness)
        camera_shade = await camera.evaluate(brightness)
        assert 60 < screen_shade < 130, screen_shade  # the screen, decoded: luma 90
        assert camera_shade < 0 or camera_shade > 170, camera_shade  # the camera: luma 200


async def test_the_page_shows_the_seed_s_words_before_the_lesson(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    browser: Browser,
) -> None:
    page = await _page_signed_in(browser, stack, client, school, "s1")
    try:
        await page.goto(f"{stack.config.call_bridge_url}/lesson/{lessons.later_5a}")
        await page.get_by_role("button", name="Присоединиться с аудио").click()
        await expect(page.get_by_role("alert")).to_contain_text("Внимание! Урок еще не начался")
    finally:
        await page.context.close()


def _body(event: dict[str, Any]) -> str:
    return str(event.get("content", {}).get("body", ""))


async def _report_chats(client: MatrixClient, bot: str) -> dict[str, str]:
    """The bot's private chats with teachers, as it keeps them in its account data."""
    try:
        found = await client.request(
            "GET", f"/_matrix/client/v3/user/{quote(bot, safe='')}/account_data/{DM_TAG}"
        )
    except MatrixError:
        return {}
    return {str(k): str(v) for k, v in found.items()}


async def _messages(client: MatrixClient, room: str) -> list[dict[str, Any]]:
    found = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/messages?dir=b&limit=30"
    )
    return [e for e in found.get("chunk", []) if e.get("type") == "m.room.message"]


async def test_a_lesson_leaves_its_widget_chat_and_attendance_in_matrix(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    call = f"lesson/{lessons.attended_5b}"
    room = await client.resolve_alias(
        RoomAlias(f"#{lesson_room(lessons.diary, _sid('5b-math'))}:{stack.config.server_name}")
    )
    assert room is not None
    ws_url, worker = await place(stack, call)
    teacher = CallPeer(ws_url, call, await openid(client, school, http, "t2"))
    student = CallPeer(ws_url, call, await openid(client, school, http, "s5"))
    await teacher.join()
    await teacher.publish(shade=100)
    await student.join()
    await student.publish(shade=None)
    widget: dict[str, object] = {}

    async def widget_now() -> dict[str, object]:
        return await client.state_event_or_empty(room, WIDGET_TYPE, WIDGET_KEY)

    deadline = time.monotonic() + 20
    while not widget and time.monotonic() < deadline:
        widget = await widget_now()
    assert str(widget["url"]).endswith(CallId.parse(call).path)  # Element opens the call page
    assert widget["data"] == {
        "title": widget["name"],
        "host": urlsplit(stack.config.call_bridge_url).netloc,
        "worker": worker,
    }
    await student.say({"type": "chat", "text": "Можно вопрос про задачу 5?"})
    student_user = school.puppet_id(_sid("s5"))
    deadline = time.monotonic() + 20
    mirrored: list[dict[str, Any]] = []
    while not mirrored and time.monotonic() < deadline:
        mirrored = [
            e
            for e in await _messages(client, room)
            if e["sender"] == student_user and _body(e) == "Можно вопрос про задачу 5?"
        ]
    assert mirrored, "the call's chat is in the class chat, said by the student"
    await student.close()
    await teacher.close()
    deadline = time.monotonic() + 20
    while widget and time.monotonic() < deadline:
        widget = await widget_now()
    assert widget == {}  # the call is over: no join button left behind
    teacher_user = school.puppet_id(_sid("t2"))
    report_text = ""
    deadline = time.monotonic() + 20
    while not report_text and time.monotonic() < deadline:
        chats = await _report_chats(client, school.bot)
        if teacher_user in chats:
            bodies = [_body(e) for e in await _messages(client, chats[teacher_user])]
            report_text = next((b for b in bodies if b.startswith("Посещаемость")), "")
    assert "Учитель-t2 Анна" in report_text
    assert "Ученик" in report_text
    token = stack.config.diary_api_token_file.read_text().strip()
    async with httpx.AsyncClient(timeout=10) as diary_side:
        answer = await diary_side.get(
            f"{stack.config.call_bridge_url}/api/v1/attendance",
            params={"call": call},
            headers={"Authorization": f"Bearer {token}"},
        )
        refused = await diary_side.get(
            f"{stack.config.call_bridge_url}/api/v1/attendance", params={"call": call}
        )
    assert refused.status_code == 401
    people = {a["user_id"]: a for a in answer.json()["attendance"]}
    assert set(people) == {teacher_user, student_user}
    assert all(a["last_left"] >= a["first_joined"] for a in people.values())


async def test_only_the_loudest_voices_are_forwarded_and_a_muted_one_gives_way(
    stack: SchoolStack,
    client: MatrixClient,
    school: SchoolSync,
    lessons: Lessons,
    http: httpx.AsyncClient,
) -> None:
    before = stack.config
    two = before.call_bridge.model_copy(update={"voices": 2})
    stack.reconfigure_bridge(before.model_copy(update={"call_bridge": two}))
    call = f"lesson/{lessons.open_5a}"
    peers: list[CallPeer] = []
    try:
        ws_url, _ = await place(stack, call)
        listener = CallPeer(ws_url, call, await openid(client, school, http, "t4"))
        peers.append(listener)
        await listener.join()
        await listener.publish(shade=None)
        voices: dict[str, str] = {}
        for person, loudness in (("s1", 16000), ("s2", 4000), ("s3", 500)):
            peer = CallPeer(ws_url, call, await openid(client, school, http, person))
            peers.append(peer)
            await peer.join()
            await peer.publish(shade=None, voice=loudness)
            voices[person] = peer.welcome["you"]
        loud, middle, quiet = voices["s1"], voices["s2"], voices["s3"]

        def heard(pid: str) -> int:
            return listener.heard_from(pid)

        await until(lambda: heard(loud) > 50 and heard(middle) > 50)
        quiet_before, loud_before = heard(quiet), heard(loud)
        await until(lambda: heard(loud) > loud_before + 100)  # two more seconds of the call
        assert heard(quiet) == quiet_before, "the quietest of three voices was forwarded"
        # the loudest mutes: the quiet voice takes its place
        await peers[1].say({"type": "state", "muted_audio": True})
        await until(lambda: heard(quiet) > quiet_before + 50)
        muted_at = heard(loud)
        await until(lambda: heard(quiet) > quiet_before + 150)
        assert heard(loud) <= muted_at + 5, "a muted voice was forwarded"
    finally:
        for peer in peers:
            await peer.close()
        stack.reconfigure_bridge(before)
