"""The sign-in limits, reset links and headers of the real diary app, driven over HTTP.

The whole application as ``python -m web_client`` composes it (its SQLite store, its mail
outbox), served in process. Browsers reach it through the school's proxy at 127.0.0.1,
which names the real client in ``X-Forwarded-For``, as nginx does; Synapse's password
module asks it directly. The clock is the test's: nothing sleeps.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from appservice.diary_sync.timetable import Timetable
from kernel.config import SchoolConfig
from kernel.contracts.diary import CHECK_PASSWORD_PATH
from kernel.ids import SourcedId
from tests.school import small_school
from web_client.__main__ import build_context, build_oidc
from web_client.app import build_app
from web_client.auth import SESSION_COOKIE
from web_client.linking import Linker

PASSWORD = "пароль-для-тестов"
PROXY = "127.0.0.1"
SCHOOL = "192.0.2.10"
"""The school's own network: every classroom behind one address."""
HOMESERVER = "https://matrix.school.test"
CALLS = "https://call.school.test"
ATTEMPTS = 2
"""``diary.login_attempts`` here: few, so that the tests verify few Argon2 hashes."""


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 9, 0))

    def __call__(self) -> datetime:
        return self.now

    def turn(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Diary:
    config: SchoolConfig
    clock: Clock
    browser: Callable[..., httpx.AsyncClient]
    """A new browser (its own cookies); ``via`` the address its connection comes from."""
    check_token: str
    letter: Callable[[SourcedId], str]
    """A new access letter's code for the person."""

    @property
    def outbox(self) -> Path:
        return self.config.state_dir / "outbox"


def sid(local: str) -> SourcedId:
    return SourcedId(f"li-{local}")


@pytest.fixture
async def diary(tmp_path: Path) -> AsyncIterator[Diary]:
    config = SchoolConfig.model_validate(
        {
            "server_name": "school.test",
            "state_dir": tmp_path,
            "homeserver": {"public_url": HOMESERVER},
            "call_bridge": {"public_url": CALLS},
            "diary": {
                "public_url": "https://diary.school.test",
                "login_attempts": ATTEMPTS,
                "lockout_minutes": 5,
                "trusted_proxies": [PROXY],
            },
        }
    )
    clock = Clock()
    ctx = build_context(config, clock)
    school = small_school("li")
    people = {pid: replace(p, email=f"{pid}@school.test") for pid, p in school.people.items()}
    people[sid("p1")] = replace(people[sid("p1")], phone="+7 912 661 42 42")
    ctx.store.load(replace(school, people=people), Timetable())
    hashed = PasswordHasher().hash(PASSWORD)
    for person in people:
        ctx.store.set_password_hash(person, hashed)
    for local in ("s1", "s2"):
        ctx.store.set_matrix_user(sid(local), f"@{sid(local)}:school.test")
    linker = Linker(config.appservice_url, "not-used", config.server_name, {})
    app = build_app(ctx, linker, build_oidc(config, ctx))

    def browser(via: str = PROXY) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(via, 50123))
        return httpx.AsyncClient(transport=transport, base_url=config.diary_url)

    try:
        yield Diary(config, clock, browser, ctx.password_check_token, ctx.auth.new_activation)
    finally:
        ctx.store.close()


def _from(client: str) -> dict[str, str]:
    """The headers the proxy adds for a browser at ``client``."""
    return {"X-Forwarded-For": client}


async def _csrf(browser: httpx.AsyncClient, client: str) -> str:
    page = await browser.get("/forgot", headers=_from(client))
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


async def _post(
    browser: httpx.AsyncClient, path: str, fields: dict[str, str], client: str
) -> httpx.Response:
    """A form as the browser at ``client`` sends it through the school's proxy."""
    data = {**fields, "csrf": await _csrf(browser, client)}
    return await browser.post(path, data=data, headers=_from(client))


async def _sign_in(
    browser: httpx.AsyncClient, login: str, client: str, password: str = PASSWORD
) -> httpx.Response:
    answer = await _post(browser, "/login", {"login": login, "password": password}, client)
    browser.cookies.delete(SESSION_COOKIE)  # signed out again: the next try starts afresh
    return answer


def _signed_in(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"] == "/diary"


def _error(answer: httpx.Response) -> str:
    found = re.search(r'data-testid="error">([^<]*)<', answer.text)
    return found.group(1) if found else ""


WRONG = "Неверный логин или пароль"


async def test_the_back_off_follows_the_account_whichever_way_its_phone_is_typed(
    diary: Diary,
) -> None:
    async with diary.browser() as browser:
        for _ in range(ATTEMPTS):
            wrong = await _sign_in(browser, "+7 912 661 42 42", "203.0.113.5", "не-тот")
            assert _error(wrong) == WRONG
        waited = await _sign_in(browser, "8 (912) 661-42-42", "203.0.113.5")
        assert waited.status_code == 401
        waiting = "Слишком много неудачных попыток входа. Попробуйте снова через 1 мин."
        assert _error(waited) == waiting
        by_mail = await _sign_in(browser, "li-p1@school.test", "203.0.113.5")
        assert "через 1 мин" in _error(by_mail)
        diary.clock.turn(minutes=1, seconds=1)
        assert _signed_in(await _sign_in(browser, "89126614242", "203.0.113.5"))


async def test_failures_back_off_one_two_four_minutes_to_the_cap_and_a_success_starts_over(
    diary: Diary,
) -> None:
    async with diary.browser() as browser:
        for _ in range(ATTEMPTS):
            await _sign_in(browser, "li-s1", "203.0.113.6", "не-тот")
        for wait in (1, 2, 4, 5, 5):  # diary.lockout_minutes = 5 here
            refused = await _sign_in(browser, "li-s1", "203.0.113.6")
            assert f"через {wait} мин" in _error(refused), _error(refused)
            diary.clock.turn(minutes=wait - 1, seconds=50)
            assert "через 1 мин" in _error(await _sign_in(browser, "li-s1", "203.0.113.6"))
            diary.clock.turn(seconds=11)
            assert _error(await _sign_in(browser, "li-s1", "203.0.113.6", "не-тот")) == WRONG
        diary.clock.turn(minutes=5, seconds=1)
        assert _signed_in(await _sign_in(browser, "li-s1", "203.0.113.6"))
        assert _error(await _sign_in(browser, "li-s1", "203.0.113.6", "не-тот")) == WRONG
        assert _signed_in(await _sign_in(browser, "li-s1", "203.0.113.6"))  # counted anew


async def test_random_names_from_one_address_slow_it_down_and_lock_nobody_out(
    diary: Diary,
) -> None:
    async with diary.browser() as stranger, diary.browser() as home:
        for n in range(20 * ATTEMPTS):  # an address may be a whole school: twenty times more
            answer = await _sign_in(stranger, f"кто-то-{n}", SCHOOL, "не-тот")
            assert answer.status_code == 401
            assert _error(answer) == WRONG
        slowed = await _sign_in(stranger, "li-p1", SCHOOL)
        assert slowed.status_code == 429
        assert 1 <= int(slowed.headers["retry-after"]) <= 10
        assert _error(slowed).startswith("Слишком много попыток входа с вашего адреса. Подождите")
        for login in ("li-p1", "li-s1", "li-a1"):  # the parent, a student, the administrator
            assert _signed_in(await _sign_in(home, login, "198.51.100.2"))
        diary.clock.turn(seconds=int(slowed.headers["retry-after"]))
        assert _signed_in(await _sign_in(stranger, "li-p1", SCHOOL))  # slowed, never locked


async def test_only_the_trusted_proxy_says_who_the_client_is(diary: Diary) -> None:
    async with diary.browser() as guesser, diary.browser() as parent:
        for _ in range(ATTEMPTS):
            await _sign_in(guesser, "li-p2", "203.0.113.7", "не-тот")
        assert "через 1 мин" in _error(await _sign_in(guesser, "li-p2", "203.0.113.7"))
        assert _signed_in(await _sign_in(parent, "li-p2", "198.51.100.3"))
    async with diary.browser(via="203.0.113.8") as direct:  # not through the proxy
        for n in range(ATTEMPTS):  # claims another address each time: not believed
            await _sign_in(direct, "li-p3", f"198.51.100.{n + 10}", "не-тот")
        refused = await _sign_in(direct, "li-p3", "198.51.100.99")
        assert "через 1 мин" in _error(refused)


async def test_a_browser_that_signed_in_before_is_never_held_back_by_anybody_else(
    diary: Diary,
) -> None:
    async with diary.browser() as teachers, diary.browser() as pupils:
        assert _signed_in(await _sign_in(teachers, "li-t1", SCHOOL))  # yesterday, in class
        for _ in range(ATTEMPTS):  # a pupil on the school's network guesses her password
            await _sign_in(pupils, "li-t1", SCHOOL, "не-тот")
        for n in range(10 * ATTEMPTS):  # and then from everywhere
            await _sign_in(pupils, "li-t1", f"203.0.113.{n + 20}", "не-тот")
        fresh = await _sign_in(pupils, "li-t1", "198.51.100.4", PASSWORD)
        assert "неудачных попыток" in _error(fresh)  # a new browser waits: it could be anyone
        assert _signed_in(await _sign_in(teachers, "li-t1", SCHOOL))  # hers does not
        for _ in range(ATTEMPTS):  # her own browser counts its own failures
            await _sign_in(teachers, "li-t1", SCHOOL, "не-тот")
        assert "через 1 мин" in _error(await _sign_in(teachers, "li-t1", SCHOOL))


async def test_each_matrix_login_counts_for_its_own_account(diary: Diary) -> None:
    """Every Matrix password login reaches the diary from Synapse (no client address)."""
    auth = {"Authorization": f"Bearer {diary.check_token}"}

    async def check(login: str, password: str = PASSWORD) -> httpx.Response:
        body = {"login": login, "password": password}
        async with diary.browser() as synapse:
            return await synapse.post(CHECK_PASSWORD_PATH, json=body, headers=auth)

    for n in range(20 * ATTEMPTS + 1):  # past what any one address may try on the web
        assert (await check(f"кто-то-{n}", "не-тот")).status_code == 403
    for _ in range(ATTEMPTS):
        assert (await check("li-s1", "не-тот")).status_code == 403
    assert (await check("li-s1")).status_code == 403  # this account waits
    answer = await check("li-s2")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user_id": "@li-s2:school.test"}
    async with diary.browser() as browser:  # and in the diary itself the first one is free
        assert _signed_in(await _sign_in(browser, "li-s1", "198.51.100.5"))
    diary.clock.turn(minutes=1, seconds=1)
    assert (await check("li-s1")).json() == {"user_id": "@li-s1:school.test"}


class Outbox:
    def __init__(self, diary: Diary) -> None:
        self._folder, self._seen = diary.outbox, set[Path]()

    def new(self) -> list[EmailMessage]:
        """The mails sent since the last look."""
        found = set(self._folder.glob("*.eml")) - self._seen
        self._seen |= found
        return [_message(path) for path in found]

    def to(self) -> list[str]:
        return sorted(str(m["To"]) for m in self.new())


def _message(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _link(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    found = re.search(r"https://diary\.school\.test(/reset/\S+)", str(part.get_content()))
    assert found is not None
    return found.group(1)


async def test_a_new_password_voids_every_older_reset_link(diary: Diary) -> None:
    outbox = Outbox(diary)
    links = []
    async with diary.browser() as browser:
        for _ in range(2):
            await _post(browser, "/forgot", {"login": "li-t2"}, "198.51.100.6")
            (mail,) = outbox.new()
            links.append(_link(mail))
        older, newer = links
        new = {"password": "новый-пароль-1", "password2": "новый-пароль-1"}
        done = await _post(browser, newer, new, "198.51.100.6")
        assert "Пароль изменён" in done.text
        stale = await browser.get(older, headers=_from("198.51.100.6"))
        assert "Эта ссылка уже использована" in stale.text
        theirs = {"password": "чужой-пароль-2", "password2": "чужой-пароль-2"}
        refused = await _post(browser, older, theirs, "198.51.100.6")
        assert "Эта ссылка уже использована" in refused.text
        assert _signed_in(await _sign_in(browser, "li-t2", "198.51.100.6", "новый-пароль-1"))
        assert not _signed_in(await _sign_in(browser, "li-t2", "198.51.100.6", "чужой-пароль-2"))


async def test_a_password_chosen_with_an_access_letter_voids_the_reset_links_too(
    diary: Diary,
) -> None:
    outbox = Outbox(diary)
    async with diary.browser() as browser:
        await _post(browser, "/forgot", {"login": "li-s3"}, "198.51.100.6")
        (mail,) = outbox.new()
        chosen = {"password": "мой-пароль-3", "password2": "мой-пароль-3"}
        fields = {"code": diary.letter(sid("s3")), **chosen}
        activated = await _post(browser, "/activate", fields, "198.51.100.6")
        assert activated.headers["location"] == "/chats"
        theirs = {"password": "чужой-пароль-3", "password2": "чужой-пароль-3"}
        refused = await _post(browser, _link(mail), theirs, "198.51.100.6")
        assert "Эта ссылка уже использована" in refused.text


async def test_forgot_sends_a_few_mails_per_account_and_per_address_and_always_says_the_same(
    diary: Diary,
) -> None:
    outbox = Outbox(diary)
    async with diary.browser() as browser:

        async def forgot(login: str, client: str) -> str:
            answer = await _post(browser, "/forgot", {"login": login}, client)
            assert answer.status_code == 200
            found = re.search(r'data-testid="notice">([^<]*)<', answer.text)
            assert found is not None
            return found.group(1)

        answers = {await forgot("li-t3", "198.51.100.7") for _ in range(5)}
        answers |= {await forgot("li-t3", "198.51.100.8")}  # the account's, wherever from
        answers |= {await forgot(f"никто-{n}", "203.0.113.9") for n in range(3)}
        assert len(answers) == 1  # nobody learns which logins exist
        assert outbox.to() == ["li-t3@school.test"] * 3
        for local in ("s1", "s2", "s3", "s4", "s5", "s6", "t1", "t2"):  # ten from one address
            await forgot(f"li-{local}", "203.0.113.9")
        assert len(outbox.new()) == 7
        await forgot("li-t4", "198.51.100.9")  # another address may still ask
        assert outbox.to() == ["li-t4@school.test"]
        diary.clock.turn(hours=1, seconds=1)
        await forgot("li-t3", "198.51.100.7")
        await forgot("li-a1", "203.0.113.9")
        assert outbox.to() == ["li-a1@school.test", "li-t3@school.test"]


def _policy(answer: httpx.Response) -> dict[str, str]:
    header = answer.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


async def test_every_page_talks_only_to_the_diary_and_the_schools_homeserver(
    diary: Diary,
) -> None:
    async with diary.browser() as browser:
        answers = [
            await browser.get("/login"),
            await browser.get("/no-such-page"),
            await browser.get("/static/diary.css"),
            await browser.post(CHECK_PASSWORD_PATH, json={}),
        ]
    assert [a.status_code for a in answers] == [200, 404, 200, 401]
    for answer in answers:
        csp = _policy(answer)
        assert csp["connect-src"] == f"'self' {HOMESERVER}"  # «Чаты» and nothing else
        assert csp["base-uri"] == "'none'"
        # «Войти» in single sign-on goes on to the homeserver, then back to «Чаты» or a call
        assert set(csp["form-action"].split()) == {"'self'", HOMESERVER, CALLS}
        assert csp["frame-ancestors"] == "'none'"
        assert "*" not in answer.headers["content-security-policy"]


async def test_an_unknown_address_or_method_is_explained_in_russian(diary: Diary) -> None:
    async with diary.browser() as browser:
        missing = await browser.get("/no-such-page")
        wrong = await browser.delete("/login")
    assert missing.status_code == 404
    assert "Такой страницы нет" in missing.text
    assert "Not Found" not in missing.text
    assert wrong.status_code == 405
    assert "Так эту страницу открыть нельзя" in wrong.text
    assert "Method Not Allowed" not in wrong.text
