"""«Журнал» → «Классный журнал»: the class's lessons, distance lessons, lessons whenever needed.

/journal                              class and subject → «Загрузить»
/journal/class/{id}                   the lesson dates of that class; «Назначить урок»
                                      (a distance lesson or a consultation at any date and time)
/journal/lesson/{id}                  «Дистанционный урок» → «Создать» → «Открыть»;
                                      a lesson set here: «Перенести», «Отменить»
/journal/lesson/{id}/distance         POST: a timetable lesson held online
/journal/lesson/{id}/move             POST: a lesson set here, at another date or time
/journal/lesson/{id}/cancel           POST: a lesson set here is gone; a timetable lesson made
                                      distance is back in the classroom

The bots read the result through the diary's API: a new lesson gets its message in the class
chat, a moved one has it edited, a cancelled one marked «Отменён».
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.layout import lesson_room
from appservice.diary_sync.model import Diary, EnrollmentRole, Person
from appservice.diary_sync.timetable import Lesson, Timetable, lesson_id
from kernel.contracts.base import ApiError
from kernel.contracts.bots import BotsApi
from kernel.contracts.bridge import BridgeApi
from kernel.ids import SourcedId
from web_client.attendance import Homework, Row, csv_text, homework_csv, homework_of, rows
from web_client.context import DiaryContext, redirect
from web_client.journal_plan import Kind, Refusal, extra_slot, when
from web_client.schedule import JournalClass, class_lessons, journal_classes, long_date, monday_of
from web_client.store import DistanceLesson

JOURNAL_WEEKS = 4


def routes(ctx: DiaryContext) -> list[Route]:
    signed_in = ctx.signed_in
    bridge = BridgeApi(ctx.config.call_bridge_url, ctx.api_token)
    bots = BotsApi(ctx.config.bots_url, ctx.invite_token)

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

    def _class_page(
        request: Request, me: Person, choice: JournalClass, error: str | None = None
    ) -> Response:
        first = monday_of(ctx.local_now().date()) - timedelta(days=7)
        lessons = class_lessons(ctx.timetable(), choice.class_id, first, 7 * JOURNAL_WEEKS)
        made = ctx.store.distance_lesson_ids(first, 7 * JOURNAL_WEEKS)
        now = ctx.local_now()
        return ctx.render(
            request,
            "journal_class.html",
            person=me,
            choice=choice,
            lessons=lessons,
            distance={lesson.id for lesson in lessons if lesson.slot.distance or lesson.id in made},
            error=error,
            cancelled=request.query_params.get("cancelled") == "1",
            default_day=now.date().isoformat(),
            soon=(now + timedelta(minutes=15)).strftime("%H:%M"),
            later=(now + timedelta(minutes=60)).strftime("%H:%M"),
            status=400 if error else 200,
        )

    async def journal_class(request: Request) -> Response:
        diary, me = signed_in(request)
        return _class_page(request, me, _choice(diary, me, request.path_params["class_id"]))

    async def add_lesson(request: Request) -> Response:
        form = await ctx.form(request)
        diary, me = signed_in(request)
        choice = _choice(diary, me, request.path_params["class_id"])
        at = when(
            str(form.get("day", "")),
            str(form.get("start", "")),
            str(form.get("end", "")),
            ctx.local_now(),
        )
        if isinstance(at, Refusal):
            return _class_page(request, me, choice, at.message)
        kind = Kind.CONSULTATION if form.get("kind") == Kind.CONSULTATION else Kind.LESSON
        teacher = _teacher_of(diary, choice.class_id, me)
        subject = _subject_of(ctx.timetable(), choice)
        slot = extra_slot(choice.class_id, subject, teacher, kind, at)
        ctx.store.add_extra_slot(slot, me.id, ctx.utc_now())
        return redirect(f"/journal/lesson/{quote(lesson_id(slot.id, at.day))}?created=1")

    async def _presence(diary: Diary, lesson: Lesson) -> list[Row] | None:
        """The class's students and their time in the lesson's call (None: the bridge is
        not answering)."""
        try:
            seen = (await bridge.attendance(f"lesson/{lesson.id}")).attendance
        except ApiError:
            return None
        students = [
            diary.people[p]
            for p in sorted(diary.members_of(lesson.slot.class_id, EnrollmentRole.STUDENT))
            if p in diary.people
        ]
        accounts = {
            p.id: a.matrix_user_id
            for p in students
            if (a := ctx.store.account(p.id)) is not None and a.matrix_user_id
        }
        return rows(students, accounts, seen, ZoneInfo(ctx.config.diary.timezone))

    async def _homework(diary: Diary, lesson: Lesson) -> Homework | None:
        """Homework the lesson's teacher set in its class chat that day, and who handed in
        what (None: the bots are not answering, or the class has no chat)."""
        key = lesson_room(diary, lesson.slot.class_id)
        if key is None:
            return None
        try:
            found = await bots.homework(f"#{key}:{ctx.config.server_name}")
        except ApiError:
            return None
        names = {
            a.matrix_user_id: person.display_name
            for person in diary.people.values()
            if (a := ctx.store.account(person.id)) is not None and a.matrix_user_id
        }
        teacher = ctx.store.account(lesson.slot.teacher_id) if lesson.slot.teacher_id else None
        zone = ZoneInfo(ctx.config.diary.timezone)
        students = sorted(
            diary.people[p].display_name
            for p in diary.members_of(lesson.slot.class_id, EnrollmentRole.STUDENT)
            if p in diary.people
        )
        return homework_of(
            found, lesson.day, teacher.matrix_user_id if teacher else None, names, students, zone
        )

    async def _lesson_page(
        request: Request, me: Person, lesson: Lesson, error: str | None = None
    ) -> Response:
        diary, _ = signed_in(request)
        extra = ctx.store.is_extra_slot(lesson.slot.id)
        made = lesson.slot.distance or lesson.id in ctx.store.distance_lesson_ids(lesson.day, 1)
        begun = made and lesson.starts_at <= ctx.local_now()
        presence = await _presence(diary, lesson) if begun else []
        homework = await _homework(diary, lesson)
        return ctx.render(
            request,
            "journal_lesson.html",
            person=me,
            lesson=lesson,
            day_title=long_date(lesson.day),
            distance=made,
            extra=extra,
            cancellable=extra or (made and not lesson.slot.distance),
            created=request.query_params.get("created") == "1",
            moved=request.query_params.get("moved") == "1",
            begun=begun,
            presence=presence,
            homework=homework,
            error=error,
            status=400 if error else 200,
        )

    async def journal_lesson(request: Request) -> Response:
        diary, me = signed_in(request)
        return await _lesson_page(request, me, _journal_lesson(request, diary, me))

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

    async def move(request: Request) -> Response:
        form = await ctx.form(request)
        diary, me = signed_in(request)
        lesson = _journal_lesson(request, diary, me)
        if not ctx.store.is_extra_slot(lesson.slot.id):
            raise HTTPException(403, "Урок из расписания переносят в расписании школы")
        at = when(
            str(form.get("day", "")),
            str(form.get("start", "")),
            str(form.get("end", "")),
            ctx.local_now(),
        )
        if isinstance(at, Refusal):
            return await _lesson_page(request, me, lesson, at.message)
        ctx.store.move_extra_slot(lesson.slot.id, at.day, at.start, at.end)
        return redirect(f"/journal/lesson/{quote(lesson_id(lesson.slot.id, at.day))}?moved=1")

    async def cancel(request: Request) -> Response:
        await ctx.form(request)
        diary, me = signed_in(request)
        lesson = _journal_lesson(request, diary, me)
        if lesson.ends_at < ctx.local_now():
            return await _lesson_page(request, me, lesson, "Урок уже прошёл")
        if not (
            ctx.store.cancel_extra_slot(lesson.slot.id)
            or ctx.store.cancel_distance_lesson(lesson.id)
        ):
            raise HTTPException(403, "Урок из расписания отменяют в расписании школы")
        return redirect(f"/journal/class/{quote(lesson.slot.class_id)}?cancelled=1")

    def _journal_choices(diary: Diary, me: Person) -> list[JournalClass]:
        choices = journal_classes(diary, me.id)
        if not me.role.is_staff:
            raise HTTPException(403, "Журнал доступен только учителям и администрации")
        return choices

    def _choice(diary: Diary, me: Person, class_id: str) -> JournalClass:
        choice = next((c for c in _journal_choices(diary, me) if c.class_id == class_id), None)
        if choice is None:
            raise HTTPException(403, "Этот журнал вам недоступен")
        return choice

    def _journal_lesson(request: Request, diary: Diary, me: Person) -> Lesson:
        lesson = ctx.timetable().lesson(request.path_params["lesson"])
        if lesson is None:
            raise HTTPException(404, "Такого урока нет в расписании")
        allowed = {c.class_id for c in _journal_choices(diary, me)}
        if lesson.slot.class_id not in allowed:
            raise HTTPException(403, "Этот журнал вам недоступен")
        return lesson

    async def attendance_csv(request: Request) -> Response:
        diary, me = signed_in(request)
        lesson = _journal_lesson(request, diary, me)
        found = await _presence(diary, lesson)
        if found is None:
            raise HTTPException(503, "Сервер звонков не отвечает: попробуйте позже")
        return _csv_file("Присутствие", lesson, csv_text(_title(lesson), found))

    async def homework_csv_file(request: Request) -> Response:
        diary, me = signed_in(request)
        lesson = _journal_lesson(request, diary, me)
        found = await _homework(diary, lesson)
        if found is None:
            raise HTTPException(503, "Бот школы не отвечает: попробуйте позже")
        return _csv_file("Домашнее задание", lesson, homework_csv(_title(lesson), found))

    return [
        Route("/journal", journal),
        Route("/journal/lesson/{lesson}/attendance.csv", attendance_csv),
        Route("/journal/lesson/{lesson}/homework.csv", homework_csv_file),
        Route("/journal/class/{class_id}", journal_class),
        Route("/journal/class/{class_id}/lessons", add_lesson, methods=["POST"]),
        Route("/journal/lesson/{lesson}", journal_lesson, methods=["GET"]),
        Route("/journal/lesson/{lesson}/distance", create_distance, methods=["POST"]),
        Route("/journal/lesson/{lesson}/move", move, methods=["POST"]),
        Route("/journal/lesson/{lesson}/cancel", cancel, methods=["POST"]),
    ]


def _title(lesson: Lesson) -> str:
    return f"{lesson.slot.subject} {lesson.day:%d.%m.%Y} {lesson.slot.start:%H:%M}"


def _csv_file(what: str, lesson: Lesson, text: str) -> Response:
    """A CSV download named for the lesson («Присутствие Математика 05.12.2026.csv»)."""
    name = quote(f"{what} {lesson.slot.subject} {lesson.day:%d.%m.%Y}.csv")
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


def _teacher_of(diary: Diary, class_id: SourcedId, me: Person) -> SourcedId:
    """Who holds it: the signed-in teacher if the class is hers, else its teacher (the
    administration sets a lesson for a class), else the one who set it."""
    teachers = sorted(
        e.person_id
        for e in diary.enrollments
        if e.class_id == class_id and e.role is EnrollmentRole.TEACHER
    )
    return me.id if me.id in teachers or not teachers else teachers[0]


def _subject_of(timetable: Timetable, choice: JournalClass) -> str:
    """The subject as the timetable names it (a roster may give a class only a title)."""
    named = sorted(
        {s.subject for s in timetable.slots if s.class_id == choice.class_id and s.subject}
        - {s.subject for s in timetable.slots if s.subject.startswith("Консультация: ")}
    )
    return named[0] if named else choice.subject
