"""«Вход в систему», «Выход», «Забыли пароль?» and the reset link."""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appservice.diary_sync.model import Person
from kernel.ids import SourcedId
from web_client.auth import KNOWN_COOKIE, KNOWN_DAYS, SESSION_COOKIE, Refusal
from web_client.context import DiaryContext, redirect, safe_next
from web_client.errors import MailError
from web_client.mail import reset_message
from web_client.sms import reset_sms

logger = logging.getLogger(__name__)

_SENT = (
    "Если такой пользователь есть и у него указана электронная почта или телефон, "
    "мы отправили ссылку для восстановления пароля: письмом или SMS."
)


def routes(ctx: DiaryContext) -> list[Route]:
    async def login_page(request: Request) -> Response:
        if ctx.person_id(request) is not None:
            return redirect("/diary")
        return _login(ctx, request)

    async def login(request: Request) -> Response:
        form = await ctx.form(request)
        name, password = str(form.get("login", "")), str(form.get("password", ""))
        address = _address(request)
        outcome = ctx.auth.sign_in(name, password, address, request.cookies.get(KNOWN_COOKIE))
        if isinstance(outcome, Refusal):
            logger.info("sign-in refused from %s", address)
            status = 401 if outcome.retry_after is None else 429
            response = _login(ctx, request, error=outcome.message, login=name, status=status)
            if outcome.retry_after is not None:
                response.headers["Retry-After"] = str(outcome.retry_after)
            return response
        response = redirect(safe_next(str(form.get("next", ""))))
        return _signed_in(request, response, outcome, remember=form.get("remember") == "on")

    def _signed_in(
        request: Request, response: Response, person: SourcedId, remember: bool
    ) -> Response:
        """The session cookie, and this browser known to the person from now on."""
        session = ctx.auth.open_session(person, remember=remember)
        response.set_cookie(
            SESSION_COOKIE,
            session.cookie,
            max_age=session.max_age,
            httponly=True,
            samesite="lax",
            secure=ctx.secure_cookies,
            path="/",
        )
        response.set_cookie(
            KNOWN_COOKIE,
            ctx.auth.known_cookie(person, request.cookies.get(KNOWN_COOKIE)),
            max_age=KNOWN_DAYS * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=ctx.secure_cookies,
            path="/login",  # read by «Войти» only
        )
        return response

    async def logout(request: Request) -> Response:
        await ctx.form(request)
        ctx.auth.close_session(request.cookies.get(SESSION_COOKIE))
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def forgot_page(request: Request) -> Response:
        return ctx.render(request, "forgot.html")

    async def forgot(request: Request) -> Response:
        form = await ctx.form(request)
        account = ctx.store.find_account(str(form.get("login", "")))
        diary = ctx.store.diary()
        person = diary.people.get(account.person_id) if diary and account else None
        allowed = ctx.auth.may_mail_reset(account.person_id if account else None, _address(request))
        if allowed and account is not None and person is not None:
            try:
                await _send_reset(account.person_id, account.email, account.phone, person)
            except MailError as e:
                logger.error("password reset not sent: %s", e)
                return ctx.render(
                    request, "forgot.html", error="Не удалось отправить ссылку. Попробуйте позже."
                )
        # The same answer whether or not the account exists: no probing for logins.
        return ctx.render(request, "forgot.html", notice=_SENT)

    async def _send_reset(
        person_id: SourcedId, email: str, phone: str | None, person: Person
    ) -> None:
        """By e-mail when the roster has one, else by SMS to the phone; neither: nothing."""
        if not email and not phone:
            return
        token = ctx.auth.new_reset(person_id)
        link = f"{ctx.config.diary_url}/reset/{token}"
        minutes = ctx.config.diary.reset_minutes
        if email:
            sender = ctx.config.diary.mail.sender
            ctx.sender.send(reset_message(sender, email, person.given_name, link, minutes))
        elif phone:
            await ctx.sms.send(replace(reset_sms(link, minutes), to=phone))

    async def reset_page(request: Request) -> Response:
        target = ctx.auth.reset_target(request.path_params["token"])
        error = target.message if isinstance(target, Refusal) else None
        return ctx.render(request, "reset.html", error=error, usable=error is None)

    async def reset(request: Request) -> Response:
        form = await ctx.form(request)
        password = str(form.get("password", ""))
        if password != str(form.get("password2", "")):
            return ctx.render(request, "reset.html", error="Пароли не совпадают", usable=True)
        outcome = ctx.auth.reset_password(request.path_params["token"], password)
        if isinstance(outcome, Refusal):
            return ctx.render(request, "reset.html", error=outcome.message, usable=True)
        return _login(ctx, request, notice="Пароль изменён. Войдите с новым паролем.")

    def _activation_page(
        request: Request, code: str, error: str | None = None, status: int = 200
    ) -> Response:
        holder = login = None
        if code:
            target = ctx.auth.activation_target(code, _address(request))
            if isinstance(target, Refusal):
                error, status = error or target.message, 410 if status == 200 else status
            else:
                diary, account = ctx.store.diary(), ctx.store.account(target)
                holder = diary.people.get(target) if diary else None
                login = account.login if account else ""
        return ctx.render(
            request,
            "activate.html",
            status=status,
            code=code,
            holder=holder,
            login=login,
            error=error,
        )

    async def activate_page(request: Request) -> Response:
        """``/activate`` (type the code) or ``/activate/<code>`` (the letter's QR code)."""
        code = request.path_params.get("code") or request.query_params.get("code", "")
        return _activation_page(request, code)

    async def activate(request: Request) -> Response:
        form = await ctx.form(request)
        code, password = str(form.get("code", "")), str(form.get("password", ""))
        if password != str(form.get("password2", "")):
            return _activation_page(request, code, "Пароли не совпадают", 400)
        outcome = ctx.auth.activate(code, password, _address(request))
        if isinstance(outcome, Refusal):
            return _activation_page(request, code, outcome.message, 400)
        return _signed_in(request, redirect("/chats"), outcome, remember=False)

    return [
        Route("/activate", activate_page, methods=["GET"]),
        Route("/activate/{code}", activate_page, methods=["GET"]),
        Route("/activate", activate, methods=["POST"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/forgot", forgot_page, methods=["GET"]),
        Route("/forgot", forgot, methods=["POST"]),
        Route("/reset/{token}", reset_page, methods=["GET"]),
        Route("/reset/{token}", reset, methods=["POST"]),
    ]


def _address(request: Request) -> str:
    """The client's address: from ``diary.trusted_proxies`` only, the one they forward
    (:func:`web_client.app.build_app`)."""
    return request.client.host if request.client else "unknown"


def _login(
    ctx: DiaryContext,
    request: Request,
    error: str | None = None,
    notice: str | None = None,
    login: str = "",
    status: int = 200,
) -> Response:
    diary = ctx.store.diary()
    schools = sorted(s.name for s in diary.schools.values()) if diary else []
    return ctx.render(
        request,
        "login.html",
        status=status,
        schools=schools,
        error=error,
        notice=notice,
        login=login,
        next=safe_next(request.query_params.get("next")),
    )
