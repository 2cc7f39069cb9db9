"""Управление → Доступ: access letters from the diary, for whom the person may print them.

::

    GET  /manage/access ──▶ the classes this member of staff looks after (the administration:
                            all; a class teacher: theirs), each with its pupils and parents
    POST /manage/access {class | person} ──▶ a PDF to print (fresh codes: earlier ones stop)
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.model import Diary, Person
from kernel.ids import SourcedId
from web_client.context import DiaryContext
from web_client.letters import (
    LetterError,
    classes_for,
    letters_pdf,
    make_letters,
    people_of_class,
)


def routes(ctx: DiaryContext) -> list[Route]:
    def allowed(request: Request) -> tuple[Diary, Person, dict[SourcedId, list[SourcedId]]]:
        diary, me = ctx.signed_in(request)
        if not me.role.is_staff:
            raise HTTPException(
                403, "Письма с доступом печатают администрация и классные руководители"
            )
        return diary, me, {c.id: people_of_class(diary, c.id) for c in classes_for(diary, me)}

    async def show(request: Request) -> Response:
        diary, me, classes = allowed(request)
        rows = [
            (diary.classes[cid], [diary.people[p] for p in people if p in diary.people])
            for cid, people in classes.items()
        ]
        chosen = request.query_params.get("person", "")  # from «Контакты»: this person
        return ctx.render(request, "access.html", person=me, rows=rows, chosen=chosen)

    async def download(request: Request) -> Response:
        form = await ctx.form(request)
        diary, _me, classes = allowed(request)
        class_id, person_id = str(form.get("class", "")), str(form.get("person", ""))
        if class_id:
            if SourcedId(class_id) not in classes:
                raise HTTPException(403, "Письма этого класса вам недоступны")
            people, name = classes[SourcedId(class_id)], diary.classes[SourcedId(class_id)].title
        else:
            mine = {p for people in classes.values() for p in people}
            if SourcedId(person_id) not in mine:
                raise HTTPException(403, "Письмо этому человеку вам недоступно")
            people, name = [SourcedId(person_id)], person_id
        try:
            letters = make_letters(diary, ctx.store, ctx.auth, people, ctx.config.diary_url)
            pdf = letters_pdf(letters, ctx.config.diary_url)
        except LetterError as e:
            raise HTTPException(500, str(e)) from e
        filename = quote(f"Доступ {name}.pdf")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
        )

    return [
        Route("/manage/access", show, methods=["GET"]),
        Route("/manage/access", download, methods=["POST"]),
    ]
