"""What every page handler needs, built once in ``__main__`` and passed to the routes.

Rendering sets the CSRF cookie when the browser has none, so every form on a page
carries a field the next POST can be checked against; ``form`` refuses a POST
whose field does not match before the handler sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from appservice.diary_sync.model import Diary, Person
from appservice.diary_sync.timetable import Timetable
from kernel.config import SchoolConfig
from kernel.ids import SourcedId
from web_client.auth import CSRF_COOKIE, SESSION_COOKIE, Auth
from web_client.mail import Sender
from web_client.sms import SmsSender
from web_client.store import DiaryStore

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class DiaryContext:
    config: SchoolConfig
    store: DiaryStore
    auth: Auth
    sender: Sender
    sms: SmsSender
    utc_now: Callable[[], datetime]
    """Naive UTC: sessions, tokens and the rate limit."""
    local_now: Callable[[], datetime]
    """Naive school-local time: the timetable's clock."""
    api_token: str
    password_check_token: str
    invite_token: str = ""
    """The diary's token for the bots' invite links (empty: joining by link is off)."""

    def __post_init__(self) -> None:
        self.jinja = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )

    @property
    def secure_cookies(self) -> bool:
        return self.config.diary_url.startswith("https://")

    def diary(self) -> Diary:
        diary = self.store.diary()
        if diary is None:
            raise HTTPException(503, "Дневник ещё не загружен: выполните `parta sync`.")
        return diary

    def timetable(self) -> Timetable:
        return self.store.timetable()

    def person_id(self, request: Request) -> SourcedId | None:
        return self.auth.session_person(request.cookies.get(SESSION_COOKIE))

    def signed_in(self, request: Request) -> tuple[Diary, Person]:
        """The diary and the person signed in; else to «Вход в систему» and back here."""
        person_id = self.person_id(request)
        if person_id is None:
            raise HTTPException(303, headers={"Location": f"/login?next={quote(request.url.path)}"})
        diary = self.diary()
        person = diary.people.get(person_id)
        if person is None:
            raise HTTPException(403, "Вашей учётной записи больше нет в дневнике школы")
        return diary, person

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        person: Person | None = None,
        **values: Any,
    ) -> Response:
        csrf_cookie = request.cookies.get(CSRF_COOKIE) or self.auth.new_csrf_cookie()
        diary = self.store.diary()
        school = next(iter(diary.schools.values())).name if diary and diary.schools else ""
        body = self.jinja.get_template(template).render(
            request=request,
            me=person,
            school=school,
            today=self.local_now().date(),
            csrf=self.auth.csrf_field(csrf_cookie),
            **values,
        )
        response = HTMLResponse(body, status_code=status)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE,
                csrf_cookie,
                httponly=True,
                samesite="strict",
                secure=self.secure_cookies,
                path="/",
            )
        return response

    async def form(self, request: Request) -> FormData:
        form = await request.form()
        field = form.get("csrf")
        if not self.auth.csrf_ok(
            request.cookies.get(CSRF_COOKIE), field if isinstance(field, str) else None
        ):
            raise HTTPException(
                403, "Форма устарела или отправлена с чужого сайта (CSRF). Обновите страницу."
            )
        return form


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only paths on this site: ``//evil.example`` and ``https://…`` become ``/diary``."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/diary"
