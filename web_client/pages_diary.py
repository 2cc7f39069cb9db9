"""«Дневник» (the week view) and the distance-lesson icon.

/diary?week=…            the person's week (a parent picks a child)
/lessons/{id}/join       the icon: «Урок еще не начался» before the window,
                         the call page (a stable URL on the call bridge) inside it

«Журнал» is :mod:`web_client.pages_journal`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.layout import lesson_room
from appservice.diary_sync.model import Diary, Person, Role
from appservice.diary_sync.timetable import Lesson
from kernel.contracts.bots import BotsApi, HomeworkList
from kernel.contracts.bridge import Attendance, BridgeApi
from web_client.attendance import OwnTask, Row, own_homework, rows
from web_client.context import DiaryContext, redirect
from web_client.schedule import (
    Window,
    children_of,
    homeroom_of,
    may_see_lesson,
    monday_of,
    week,
    window_state,
)

NOT_STARTED = "Внимание! Урок еще не начался"
FINISHED = "Урок уже закончился"


log = logging.getLogger(__name__)


def routes(ctx: DiaryContext) -> list[Route]:
    signed_in = ctx.signed_in
    bridge = BridgeApi(ctx.config.call_bridge_url, ctx.api_token)
    bots = BotsApi(ctx.config.bots_url, ctx.invite_token)

    def lesson_for(request: Request, diary: Diary, person: Person) -> Lesson:
        lesson = ctx.timetable().lesson(request.path_params["lesson"])
        if lesson is None:
            raise HTTPException(404, "Такого урока нет в расписании")
        if not may_see_lesson(diary, person.id, lesson):
            raise HTTPException(403, "Этот урок не из вашего расписания")
        return lesson

    async def _presence(student: Person, lessons: list[Lesson]) -> dict[str, Row]:
        """The student's own time in each distance lesson that has begun (her parent sees
        it too); a lesson the bridge cannot tell about shows nothing."""
        account = ctx.store.account(student.id)
        now = ctx.local_now()
        begun = [lesson for lesson in lessons if lesson.starts_at <= now]
        if not begun:
            return {}
        zone = ZoneInfo(ctx.config.diary.timezone)
        mine = {student.id: account.matrix_user_id} if account and account.matrix_user_id else {}
        answers = await asyncio.gather(
            *(bridge.attendance(f"lesson/{lesson.id}") for lesson in begun), return_exceptions=True
        )
        found = {}
        for lesson, answer in zip(begun, answers, strict=True):
            if isinstance(answer, Attendance):
                found[lesson.id] = rows([student], mine, answer.attendance, zone)[0]
            else:
                log.info("attendance of %s not known now: %s", lesson.id, answer)
        return found

    async def _homework(
        diary: Diary, student: Person, lessons: list[Lesson]
    ) -> dict[str, list[OwnTask]]:
        """Each lesson's homework from its class chat, with the student's own hand-in; one
        question to the bots per chat (a week is usually one class chat)."""
        chats: dict[str, list[Lesson]] = {}
        for lesson in lessons:
            key = lesson_room(diary, lesson.slot.class_id)
            if key is not None:
                chats.setdefault(f"#{key}:{ctx.config.server_name}", []).append(lesson)
        if not chats:
            return {}
        answers = await asyncio.gather(
            *(bots.homework(alias) for alias in chats), return_exceptions=True
        )
        account = ctx.store.account(student.id)
        me = account.matrix_user_id if account else None
        zone = ZoneInfo(ctx.config.diary.timezone)
        found: dict[str, list[OwnTask]] = {}
        for (_alias, of_chat), answer in zip(chats.items(), answers, strict=True):
            if not isinstance(answer, HomeworkList):
                log.info("homework not known now: %s", answer)
                continue
            for lesson in of_chat:
                teacher = (
                    ctx.store.account(lesson.slot.teacher_id) if lesson.slot.teacher_id else None
                )
                tasks = own_homework(
                    answer, lesson.day, teacher.matrix_user_id if teacher else None, me, zone
                )
                if tasks:
                    found[lesson.id] = tasks
        return found

    async def home(request: Request) -> Response:
        return redirect("/diary" if ctx.person_id(request) else "/login")

    async def diary_page(request: Request) -> Response:
        diary, me = signed_in(request)
        monday = monday_of(_day(request.query_params.get("week")) or ctx.local_now().date())
        student, children = _whose(diary, me, request.query_params.get("student"))
        days = week(
            diary, ctx.timetable(), student.id, monday, ctx.store.distance_lesson_ids(monday, 7)
        )
        notice = {"not_started": NOT_STARTED, "finished": FINISHED}.get(
            request.query_params.get("notice", "")
        )
        presence = await _presence(
            student, [e.lesson for d in days for e in d.entries if e.distance]
        )
        today = ctx.local_now().date()
        homework = await _homework(
            diary, student, [e.lesson for d in days for e in d.entries if e.lesson.day <= today]
        )
        return ctx.render(
            request,
            "diary.html",
            person=me,
            student=student,
            children=children,
            homeroom=homeroom_of(diary, student.id),
            days=days,
            monday=monday,
            sunday=monday + timedelta(days=6),
            previous=(monday - timedelta(days=7)).isoformat(),
            next=(monday + timedelta(days=7)).isoformat(),
            notice=notice,
            query_student=request.query_params.get("student", ""),
            presence=presence,
            homework=homework,
        )

    async def join(request: Request) -> Response:
        diary, me = signed_in(request)
        lesson = lesson_for(request, diary, me)
        state = window_state(lesson, ctx.local_now())
        if state is Window.OPEN:
            return redirect(f"{ctx.config.call_url}/lesson/{quote(lesson.id)}")
        back = {"week": monday_of(lesson.day).isoformat()}
        back["notice"] = "not_started" if state is Window.BEFORE else "finished"
        if me.role is Role.PARENT:
            back["student"] = request.query_params.get("student", "")
        return redirect(f"/diary?{urlencode(back)}")

    async def call_placeholder(request: Request) -> Response:
        diary, me = signed_in(request)
        lesson = lesson_for(request, diary, me)
        return ctx.render(request, "call.html", person=me, lesson=lesson)

    return [
        Route("/", home),
        Route("/diary", diary_page),
        Route("/lessons/{lesson}/join", join),
        Route("/calls/lesson/{lesson}", call_placeholder),
    ]


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _whose(diary: Diary, me: Person, asked: str | None) -> tuple[Person, list[Person]]:
    """Whose diary to show: one's own, or for a parent the chosen (default: first) child."""
    if me.role is not Role.PARENT:
        return me, []
    children = [diary.people[c] for c in children_of(diary, me.id) if c in diary.people]
    if not children:
        return me, []
    chosen = next((c for c in children if c.id == asked), children[0])
    return chosen, children
