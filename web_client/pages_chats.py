"""«Чаты» (everyone) and «Управление → Чаты» (staff): the profile link and the chat list.

The seed's three cases of «Привязать учебный профиль»:

1. already linked — the tab shows the chats and how to open them in any client;
2. a Matrix account but no school profile — prove it with its password, link it
   (an adult's may live on any server; a student's only on the school's own);
3. no account — the school makes one; the mobile phone becomes a login, with a
   password the person sets (the same password as the diary's).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import Person, Role
from appservice.diary_sync.names import BY_LANGUAGE
from kernel.config import OIDC_IDP_ID
from kernel.contracts.appservice import Linked
from kernel.ids import SourcedId
from web_client.auth import MIN_PASSWORD
from web_client.contacts import GROUP_LABELS, contacts_of, support_contact
from web_client.context import DiaryContext, redirect
from web_client.errors import LinkError
from web_client.letters import classes_for, people_of_class
from web_client.link_intent import Links
from web_client.linking import Linker
from web_client.store import normalize_phone

logger = logging.getLogger(__name__)


def routes(ctx: DiaryContext, linker: Linker, links: Links) -> list[Route]:
    signed_in = ctx.signed_in

    async def chats(request: Request) -> Response:
        diary, me = signed_in(request)
        account = ctx.store.account(me.id)
        names = BY_LANGUAGE[ctx.config.language]
        rooms = [
            spec.name
            for layout in layout_diary(diary, names)
            for spec in layout.rooms
            if me.id in spec.members and not spec.is_space
        ]
        user = account.matrix_user_id if account else None
        return ctx.render(
            request,
            "chats.html",
            person=me,
            account=account,
            rooms=rooms,
            homeserver=ctx.config.homeserver_public_url,
            diary_url=ctx.config.diary_url,
            idp=f"oidc-{OIDC_IDP_ID}",
            language=ctx.config.language,
            call_bridge=ctx.config.call_url,
            # the teacher's buttons: staff by the roster, as the bots decide (their power in
            # the chat is read by the page from the chat itself)
            staff=me.role.is_staff,
            # The messenger signs in through the school's own Synapse (single sign-on);
            # an account on another server is used from that server's clients.
            messenger=bool(user and user.endswith(f":{ctx.config.server_name}")),
            linked_now=request.query_params.get("linked") == "1",
        )

    def account_of(person_id: SourcedId) -> str | None:
        found = ctx.store.account(person_id)
        return found.matrix_user_id if found and found.matrix_user_id else None

    async def contacts(request: Request) -> Response:
        """«Контакты» and «Поддержка» for the messenger (same origin, the diary's session)."""
        diary, me = signed_in(request)
        names = BY_LANGUAGE[ctx.config.language]
        found = contacts_of(diary, me, names, account_of, ctx.config.language)
        support = support_contact(diary, me.id, ctx.config.diary.support, account_of)
        labels = GROUP_LABELS.get(ctx.config.language, GROUP_LABELS["ru"])
        # whom this member of staff may print an access letter for (Управление → Доступ)
        letters = {p for c in classes_for(diary, me) for p in people_of_class(diary, c.id)}
        return JSONResponse(
            {
                "contacts": [
                    {
                        "name": c.name,
                        "role": c.role,
                        "user_id": c.user_id,
                        "group": labels[c.group],
                        "detail": c.detail,
                        "letter_url": (
                            f"/manage/access?person={quote(c.person_id)}"
                            if c.user_id is None and c.person_id in letters
                            else None
                        ),
                    }
                    for c in found
                ],
                "support": {
                    "user_id": support.user_id,
                    "name": support.name,
                    "text": support.text,
                    "email": support.email,
                    "phone": support.phone,
                },
            },
            headers={"Cache-Control": "no-store"},
        )

    async def readers(request: Request) -> Response:
        """«Кто прочитал» for the messenger: a member of staff, about her own message only;
        names as the diary knows them (students and parents see nobody's reading)."""
        diary, me = signed_in(request)
        account = ctx.store.account(me.id)
        room = request.query_params.get("room", "")
        event = request.query_params.get("event", "")
        if not me.role.is_staff or account is None or not account.matrix_user_id:
            return JSONResponse({"reason": "«Кто прочитал» видят только сотрудники школы"}, 403)
        found = await linker.readers(room, event) if room and event else None
        if found is None:
            return JSONResponse({"reason": "Сообщение не найдено"}, 404)
        if found.sender != account.matrix_user_id:
            return JSONResponse({"reason": "Видно только для своих сообщений"}, 403)
        names = {
            a.matrix_user_id: diary.people[pid].display_name
            for pid in diary.people
            if (a := ctx.store.account(pid)) is not None and a.matrix_user_id
        }
        return JSONResponse(
            {
                "read": sorted(names.get(u, u) for u in found.read),
                "unread": sorted(names.get(u, u) for u in found.unread),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def link_page(request: Request, error: str | None = None, status: int = 200) -> Response:
        _diary, me = signed_in(request)
        account = ctx.store.account(me.id)
        if account is not None and account.matrix_user_id:
            return redirect("/chats")
        return ctx.render(
            request,
            "link.html",
            status=status,
            person=me,
            error=error,
            phone=account.phone if account else "",
            server=ctx.config.server_name,
            min_password=MIN_PASSWORD,
        )

    async def link_existing(request: Request) -> Response:
        form = await ctx.form(request)
        _diary, me = signed_in(request)
        user_id = str(form.get("user_id", "")).strip()
        try:
            if me.role is Role.STUDENT and not user_id.endswith(f":{ctx.config.server_name}"):
                raise LinkError("Учётная запись ученика может быть только на сервере своей школы")
            proof = await linker.prove(user_id, str(form.get("password", "")))
        except LinkError as e:
            return await link_page(request, e.reason, 400)
        rooms: list[str] = []
        try:
            linked = await links.link(me.id, user_id=proof.user_id)
            rooms = list(linked.rooms)
        except LinkError as e:
            return await link_page(request, _later(e), 400)
        finally:
            await linker.accept(proof, rooms)  # joins what it may, and ends the proof's login
        return _done(ctx, me, linked)

    async def link_new(request: Request) -> Response:
        form = await ctx.form(request)
        _diary, me = signed_in(request)
        phone = normalize_phone(str(form.get("phone", "")))
        password = str(form.get("password", ""))
        problem = _new_account_problem(ctx, me, phone, password, str(form.get("password2", "")))
        if problem or phone is None:
            return await link_page(request, problem or "Укажите номер телефона", 400)
        try:
            linked = await links.link(me.id, phone, ctx.auth.hash_password(password))
        except LinkError as e:
            return await link_page(request, _later(e), 400)
        return _done(ctx, me, linked)

    async def link_known(request: Request) -> Response:
        """Case 1: the appservice already knows the person's account; the diary learns it."""
        await ctx.form(request)
        _diary, me = signed_in(request)
        try:
            linked = await links.link(me.id)
        except LinkError as e:
            return await link_page(request, _later(e), 400)
        return _done(ctx, me, linked)

    return [
        Route("/chats", chats),
        Route("/manage/chats", chats),
        Route("/chats/contacts", contacts),
        Route("/chats/readers", readers),
        Route("/chats/link", link_page, methods=["GET"]),
        Route("/chats/link/existing", link_existing, methods=["POST"]),
        Route("/chats/link/new", link_new, methods=["POST"]),
        Route("/chats/link/known", link_known, methods=["POST"]),
    ]


def _new_account_problem(
    ctx: DiaryContext, me: Person, phone: str | None, password: str, again: str
) -> str | None:
    if phone is None:
        return "Укажите номер мобильного телефона, например +7 900 123-45-67"
    holder = ctx.store.find_account(phone)
    if holder is not None and holder.person_id != me.id:
        return "Этот номер уже используется другой учётной записью"
    if len(password) < MIN_PASSWORD:
        return f"Пароль должен быть не короче {MIN_PASSWORD} символов"
    if password != again:
        return "Пароли не совпадают"
    return None


def _later(e: LinkError) -> str:
    """A link the appservice could not answer is finished by the diary once it answers."""
    if e.transient:
        return f"{e.reason} Привязка завершится сама, как только сервер чатов ответит."
    return e.reason


def _done(ctx: DiaryContext, me: Person, linked: Linked) -> Response:
    ctx.store.set_matrix_user(me.id, linked.user_id)
    if linked.failed:
        logger.warning("linking %s: %d action(s) failed", me.id, len(linked.failed))
    return redirect("/chats?linked=1")
