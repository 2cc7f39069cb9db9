"""Управление → Состояние: does the school's messenger work, for its administrator (F1, F2).

The same readiness ``parta status`` reads (each component's ``/ready``), in Russian, with what
an administrator acts on: who has not joined the chats yet, and today's distance lessons::

    GET /manage/status ──▶ homeserver, appservice, bots, call bridge: «работает» or why not
                       ──▶ the last sync with the roster: when, what changed, what failed
                       ──▶ people linked by role, today's distance lessons
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.model import Role
from kernel.health import Check, homeserver_url, reachable
from web_client.context import DiaryContext
from web_client.linking import Linker

ROLES = {
    Role.STUDENT: "Ученики",
    Role.PARENT: "Родители",
    Role.TEACHER: "Учителя",
    Role.ADMINISTRATOR: "Администрация",
}
PARTS = {
    "homeserver": "Сервер чатов (Synapse)",
    "appservice": "Связь дневника с чатами",
    "bots": "Школьный бот",
    "call_bridge": "Звонки и дистанционные уроки",
}


def routes(ctx: DiaryContext, linker: Linker) -> list[Route]:
    config = ctx.config

    async def show(request: Request) -> Response:
        diary, me = ctx.signed_in(request)
        if me.role is not Role.ADMINISTRATOR:
            raise HTTPException(403, "Состояние системы видит администрация школы")
        asked = [
            reachable("homeserver", homeserver_url(config.homeserver_url)),
            reachable("appservice", config.appservice_url + "/ready"),
            reachable("bots", config.bots_url + "/ready"),
        ]
        if config.call_bridge.enabled:
            asked.append(reachable("call_bridge", config.call_bridge_url + "/ready"))
        checks: list[Check] = list(await asyncio.gather(*asked))
        last = await linker.last_sync()
        people: Counter[Role] = Counter()
        linked: Counter[Role] = Counter()
        for person in diary.people.values():
            people[person.role] += 1
            account = ctx.store.account(person.id)
            if account is not None and account.matrix_user_id:
                linked[person.role] += 1
        today = ctx.local_now().date()
        lessons = [
            lesson
            for lesson in ctx.timetable().lessons(today, 1)
            if lesson.slot.distance or lesson.id in ctx.store.distance_lesson_ids(today, 1)
        ]
        return ctx.render(
            request,
            "status.html",
            person=me,
            parts=[(PARTS.get(c.name, c.name), c) for c in checks],
            working=all(c.ok for c in checks),
            roles=[(ROLES[r], linked[r], people[r]) for r in ROLES if people[r]],
            lessons=sorted(lessons, key=lambda lesson: lesson.starts_at),
            classes=diary.classes,
            last=last,
            last_at=None
            if last is None
            else datetime.fromtimestamp(last.finished_s, ZoneInfo(config.diary.timezone)),
        )

    return [Route("/manage/status", show, methods=["GET"])]
