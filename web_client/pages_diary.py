"""«Дневник» (the week view), the distance-lesson icon, and «Журнал» → «Классный журнал».

/diary?week=…            the person's week (a parent picks a child)
/lessons/{id}/join       the icon: «Урок еще не начался» before the window,
                         the call page (a stable URL on the call bridge) inside it
/journal                 class and subject → «Загрузить»
/journal/class/{id}      the lesson dates of that class
/journal/lesson/{id}     «Дистанционный урок» → «Создать» → «Открыть»
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.model import Diary, Person, Role
from appservice.diary_sync.timetable import Lesson
from kernel.ids import SourcedId
from web_client.context import DiaryContext, redirect
from web_client.schedule import (
    JournalClass,
    Window,
    children_of,
    class_lessons,
    homeroom_of,
    journal_classes,
    long_date,
    may_see_lesson,
    monday_of,
    week,
    window_state,
)
from web_client.store import DistanceLesson

NOT_STARTED = "Внимание! Урок еще не начался"
FINISHED = "Урок уже закончился"
JOURNAL_WEEKS = 4


def routes(ctx: DiaryContext) -> list[Route]:
    signed_in = ctx.signed_in

    def lesson_for(request: Request, diary: Diary, person: Person) -> Lesson:
        lesson = ctx.timetable().lesson(request.path_params["lesson"])
        if lesson is None:
            raise HTTPException(404, "Такого урока нет в расписании")
        if not may_see_lesson(diary, person.id, lesson):
            raise HTTPException(403, "Этот урок не из вашего расписания")
        return lesson

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

    async def journal(request: Request) -> Response:
        diary, me = signed_in(request)
        choices = _journal_choices(diary, me)
        chosen = request.query_params.get("group"), request.query_params.get("subject")
        if all(chosen):
            match = [c for c in choices if (c.group, c.subject) == chosen]
            if not match:
                raise HTTPException(403, "Этот журнал вам недоступен")
            return redirect(f"/journal/class/{quote(match[0].class_id)}")
        groups = list(dict.fromkeys(c.group for c in choices))
        subjects = sorted({c.subject for c in choices})
        return ctx.render(request, "journal.html", person=me, groups=groups, subjects=subjects)

    async def journal_class(request: Request) -> Response:
        diary, me = signed_in(request)
        class_id = SourcedId(request.path_params["class_id"])
        choice = next((c for c in _journal_choices(diary, me) if c.class_id == class_id), None)
        if choice is None:
            raise HTTPException(403, "Этот журнал вам недоступен")
        first = monday_of(ctx.local_now().date()) - timedelta(days=7)
        lessons = class_lessons(ctx.timetable(), class_id, first, 7 * JOURNAL_WEEKS)
        made = ctx.store.distance_lesson_ids(first, 7 * JOURNAL_WEEKS)
        return ctx.render(
            request,
            "journal_class.html",
            person=me,
            choice=choice,
            lessons=lessons,
            distance={lesson.id for lesson in lessons if lesson.slot.distance or lesson.id in made},
        )

    async def journal_lesson(request: Request) -> Response:
        diary, me = signed_in(request)
        lesson = _journal_lesson(request, diary, me)
        made = lesson.slot.distance or lesson.id in ctx.store.distance_lesson_ids(lesson.day, 1)
        return ctx.render(
            request,
            "journal_lesson.html",
            person=me,
            lesson=lesson,
            day_title=long_date(lesson.day),
            distance=made,
            created=request.query_params.get("created") == "1",
        )

    async def create_distance(request: Request) -> Response:
        await ctx.form(request)
        diary, me = signed_in(request)
        lesson = _journal_lesson(request, diary, me)
        record = DistanceLesson(
            lesson.id,
            lesson.slot.class_id,
            lesson.starts_at,
            lesson.ends_at,
            lesson.slot.subject,
            me.id,
        )
        ctx.store.add_distance_lesson(record, ctx.utc_now())
        return redirect(f"/journal/lesson/{quote(lesson.id)}?created=1")

    def _journal_choices(diary: Diary, me: Person) -> list[JournalClass]:
        choices = journal_classes(diary, me.id)
        if not me.role.is_staff:
            raise HTTPException(403, "Журнал доступен только учителям и администрации")
        return choices

    def _journal_lesson(request: Request, diary: Diary, me: Person) -> Lesson:
        lesson = ctx.timetable().lesson(request.path_params["lesson"])
        if lesson is None:
            raise HTTPException(404, "Такого урока нет в расписании")
        allowed = {c.class_id for c in _journal_choices(diary, me)}
        if lesson.slot.class_id not in allowed:
            raise HTTPException(403, "Этот журнал вам недоступен")
        return lesson

    return [
        Route("/", home),
        Route("/diary", diary_page),
        Route("/lessons/{lesson}/join", join),
        Route("/calls/lesson/{lesson}", call_placeholder),
        Route("/journal", journal),
        Route("/journal/class/{class_id}", journal_class),
        Route("/journal/lesson/{lesson}", journal_lesson, methods=["GET"]),
        Route("/journal/lesson/{lesson}/distance", create_distance, methods=["POST"]),
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
