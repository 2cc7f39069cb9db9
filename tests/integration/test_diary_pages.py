"""The diary in real headless Chromium: login, Дневник, the distance-lesson icon, Журнал.

Screenshots of the main screens go to docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.async_api import Page, expect
from pypdf import PdfReader

from appservice.diary_sync.model import EnrollmentRole, Role
from appservice.school_sync import SchoolSync, SyncOptions
from parta.stack import SchoolStack
from tests.browser import SCREENSHOTS, sign_in_at
from tests.integration.diary_site import PASSWORD, DiarySite, next_school_day, running_diary
from tests.integration.test_cli import parta
from tests.metrics import scrape, total, value
from web_client.store import DiaryStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(stack: SchoolStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiarySite]:
    with running_diary(stack.config, tmp_path_factory.mktemp("diary"), "web") as running:
        yield running


async def sign_in(page: Page, site: DiarySite, login: str, password: str = PASSWORD) -> None:
    await sign_in_at(page, site.url, login, password)


async def test_a_wrong_password_is_refused_and_the_right_one_opens_the_diary(
    page: Page, site: DiarySite
) -> None:
    await page.goto(f"{site.url}/")
    await expect(page.get_by_role("heading", name="Вход в систему")).to_be_visible()
    await expect(page.get_by_label("Организация")).to_contain_text("Школа web")
    await page.screenshot(path=SCREENSHOTS / "diary-login.png")
    await sign_in(page, site, "web-s1", "не-тот-пароль")
    await expect(page.get_by_test_id("error")).to_have_text("Неверный логин или пароль")
    assert page.url.startswith(f"{site.url}/login")
    await sign_in(page, site, "web-s1")
    await expect(page).to_have_url(f"{site.url}/diary")
    await expect(page.get_by_test_id("me")).to_have_text("Ученик0 Иван")


async def test_the_week_view_shows_distance_lessons_and_the_not_started_message(
    page: Page, site: DiarySite
) -> None:
    await sign_in(page, site, "web-s1")
    later = page.locator(f'tr[data-lesson="{site.later()}"]')
    await expect(later).to_contain_text("Математика")
    await expect(page.get_by_test_id("distance-icon")).to_have_count(2)
    await page.screenshot(path=SCREENSHOTS / "diary-week.png", full_page=True)
    await later.get_by_test_id("distance-icon").click()
    notice = page.get_by_role("alertdialog")
    await expect(notice).to_have_text("Внимание! Урок еще не начался Ок")
    await page.screenshot(path=SCREENSHOTS / "diary-not-started.png")
    await notice.get_by_role("link", name="Ок").click()
    await expect(page.get_by_role("alertdialog")).to_have_count(0)
    now = page.locator(f'tr[data-lesson="{site.open_now()}"]')
    await now.get_by_test_id("distance-icon").click()
    await expect(page).to_have_url(
        f"{site.config.call_url}/lesson/{site.open_now()}".replace("@", "%40")
    )
    # the bridge's call page: no Matrix session in this browser yet, so it offers the diary's SSO
    await expect(page.get_by_role("button", name="Войти через дневник")).to_be_visible()


async def test_next_and_previous_weeks(page: Page, site: DiarySite) -> None:
    await sign_in(page, site, "web-s1")
    monday = site.day - timedelta(days=site.day.weekday())
    await page.get_by_role("link", name="Следующая неделя").click()
    await expect(page.get_by_test_id("week")).to_contain_text(
        (monday + timedelta(days=7)).strftime("%d.%m.%Y")
    )
    await expect(page.get_by_test_id("distance-icon")).to_have_count(0)  # one-off lessons
    await page.get_by_role("link", name="Предыдущая неделя").click()
    await page.get_by_role("link", name="Предыдущая неделя").click()
    await expect(page.get_by_test_id("week")).to_contain_text(
        (monday - timedelta(days=7)).strftime("%d.%m.%Y")
    )


async def test_a_teacher_creates_a_distance_lesson_through_the_journal(
    page: Page, site: DiarySite
) -> None:
    await sign_in(page, site, "web-t4")
    await page.get_by_role("link", name="Журнал").click()
    await page.get_by_label("Класс").select_option("5a math")
    await page.get_by_role("button", name="Загрузить").click()
    school_day = next_school_day(site.day)
    await page.get_by_test_id("lesson-date").filter(has_text=school_day.strftime("%d.%m")).click()
    row = page.get_by_role("row", name="Дистанционный урок")
    await row.get_by_role("button", name="Создать").click()
    await expect(page.get_by_role("status")).to_contain_text("Дистанционный урок создан")
    await expect(row.get_by_role("link", name="Открыть")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "journal-lesson.png")
    lesson_id = f"{site.sid('plain')}@{school_day.isoformat()}"

    # the students see the icon on it, and the bots' interface lists it
    await page.context.clear_cookies()
    await sign_in(page, site, "web-s2")
    await page.goto(f"{site.url}/diary?week={school_day.isoformat()}")
    await expect(
        page.locator(f'tr[data-lesson="{lesson_id}"]').get_by_test_id("distance-icon")
    ).to_be_visible()
    token = site.config.diary_api_token_file.read_text().strip()
    start = site.day.isoformat()
    end = (school_day + timedelta(days=1)).isoformat()
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{site.url}/api/v1/distance-lessons?from={start}T00:00&to={end}T00:00",
            headers={"Authorization": f"Bearer {token}"},
        )
        refused = await http.get(
            f"{site.url}/api/v1/distance-lessons?from={start}T00:00&to={end}T00:00",
            headers={"Authorization": "Bearer forged-token"},
        )
    assert refused.status_code == 401
    lessons = {item["lesson_id"]: item for item in answer.json()["lessons"]}
    assert set(lessons) == {site.open_now(), site.later(), lesson_id}
    assert lessons[lesson_id]["subject"] == "Математика"
    assert lessons[lesson_id]["call_url"].endswith(lesson_id.replace("@", "%40"))


async def test_a_student_cannot_open_a_journal_or_another_class_lesson(
    page: Page, site: DiarySite
) -> None:
    await sign_in(page, site, "web-s4")  # 5Б
    response = await page.goto(f"{site.url}/journal/class/{site.sid('5b-math')}")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_test_id("error")).to_contain_text("только учителям")
    response = await page.goto(f"{site.url}/lessons/{site.open_now()}/join")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_test_id("error")).to_have_text("Этот урок не из вашего расписания")
    await expect(page.get_by_role("link", name="Журнал")).to_have_count(0)


async def test_a_teacher_cannot_open_another_teachers_journal(page: Page, site: DiarySite) -> None:
    await sign_in(page, site, "web-t4")  # teaches maths in 5А and 5Б, not physics in 6А
    response = await page.goto(f"{site.url}/journal/class/{site.sid('6a-phys')}")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_test_id("error")).to_have_text("Этот журнал вам недоступен")


async def test_forms_without_the_csrf_field_are_refused(site: DiarySite) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        await http.get("/login")  # sets the CSRF cookie
        answer = await http.post("/login", data={"login": "web-s1", "password": PASSWORD})
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert "parta_session" not in answer.cookies


async def test_session_cookie_flags(page: Page, site: DiarySite) -> None:
    await sign_in(page, site, "web-a1")
    await expect(page).to_have_url(f"{site.url}/diary")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["parta_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["expires"] == -1  # without «Остаться в системе» it ends with the browser
    assert cookies["parta_csrf"]["httpOnly"] is True
    assert cookies["parta_csrf"]["sameSite"] == "Strict"
    await page.context.clear_cookies()
    await page.goto(f"{site.url}/login")
    await page.get_by_label("Логин").fill("web-a1")
    await page.get_by_label("Пароль").fill(PASSWORD)
    await page.get_by_label("Остаться в системе").check()
    await page.get_by_role("button", name="Войти").click()
    await expect(page).to_have_url(f"{site.url}/diary")
    remembered = {c["name"]: c for c in await page.context.cookies()}["parta_session"]
    assert remembered["expires"] > 0


async def test_logins_are_rate_limited(page: Page, site: DiarySite) -> None:
    metrics = site.config.metrics_urls["diary"]
    before = await scrape(metrics)
    for _ in range(site.config.diary.login_attempts):
        await sign_in(page, site, "web-p2", "не-тот-пароль")
        await expect(page.get_by_test_id("error")).to_have_text("Неверный логин или пароль")
    await sign_in(page, site, "web-p2")
    await expect(page.get_by_test_id("error")).to_contain_text("Слишком много неудачных попыток")
    assert "/login" in page.url
    # the operator sees it: the wrong passwords and the lockout, by where, never by whom
    after = await scrape(metrics)
    logins = "parta_diary_logins_total"
    wrong = value(after, logins, via="diary", result="wrong")
    attempts = site.config.diary.login_attempts
    assert wrong - value(before, logins, via="diary", result="wrong") == attempts
    throttled = value(after, logins, via="diary", result="throttled")
    assert throttled - value(before, logins, via="diary", result="throttled") == 1
    posted = total(after, "parta_diary_http_requests_total", method="POST", route="/login")
    posted_before = total(before, "parta_diary_http_requests_total", method="POST", route="/login")
    assert posted - posted_before == attempts + 1
    assert all("web-p2" not in str(labels) for _, labels in after)


async def test_forgot_password_sends_a_link_that_sets_a_new_password(
    page: Page, site: DiarySite
) -> None:
    outbox = site.config.state_dir / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    await page.goto(f"{site.url}/login")
    await page.get_by_role("link", name="Забыли пароль?").click()
    await page.get_by_label("Логин, телефон или электронная почта").fill("web-t3")
    await page.get_by_role("button", name="Восстановить пароль").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("мы отправили")
    (mail,) = set(outbox.glob("*.eml")) - before
    link = next(line for line in _body(mail).splitlines() if "/reset/" in line).strip()
    await page.goto(link)
    await page.get_by_label("Новый пароль").fill("совсем-новый-пароль")
    await page.get_by_label("Повторите пароль").fill("совсем-новый-пароль")
    await page.get_by_role("button", name="Сохранить пароль").click()
    await expect(page.get_by_role("status")).to_contain_text("Пароль изменён")
    await sign_in(page, site, "web-t3", "совсем-новый-пароль")
    await expect(page).to_have_url(f"{site.url}/diary")
    await page.goto(link)
    await expect(page.get_by_test_id("error")).to_contain_text("уже использована")


def _body(path: Path) -> str:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def _form(
    http: httpx.AsyncClient, path: str, fields: dict[str, str], client: str
) -> httpx.Response:
    """A form as a browser behind the school's proxy sends it (``client`` its real address)."""
    proxy = {"X-Forwarded-For": client}
    page = await http.get(path, headers=proxy)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text[:500]
    return await http.post(path, data={**fields, "csrf": csrf.group(1)}, headers=proxy)


async def test_behind_the_proxy_each_client_counts_for_itself(site: DiarySite) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        for _ in range(site.config.diary.login_attempts):
            wrong = await _form(
                http, "/login", {"login": "web-p3", "password": "не-тот"}, "203.0.113.7"
            )
            assert wrong.status_code == 401
        waited = await _form(
            http, "/login", {"login": "web-p3", "password": PASSWORD}, "203.0.113.7"
        )
        assert "Слишком много неудачных попыток" in waited.text
        http.cookies.clear()
        mine = await _form(
            http, "/login", {"login": "web-p3", "password": PASSWORD}, "198.51.100.2"
        )
        assert mine.status_code == 303, mine.text[:300]  # the parent at home signs in


async def test_a_flood_of_forgot_requests_sends_a_few_mails(site: DiarySite) -> None:
    outbox = site.config.state_dir / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    async with httpx.AsyncClient(base_url=site.url) as http:
        for _ in range(12):
            answer = await _form(http, "/forgot", {"login": "web-t4"}, "203.0.113.9")
            assert "мы отправили" in answer.text  # the same answer, sent or not
    assert len(set(outbox.glob("*.eml")) - before) == 3


async def test_the_diary_talks_only_to_itself_and_its_homeserver(site: DiarySite) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        page = await http.get("/login")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    homeserver = site.config.homeserver_public_url
    assert policy["connect-src"] == f"'self' {homeserver}"
    assert policy["base-uri"] == "'none'"
    calls = site.config.call_bridge_url  # single sign-on may end on the call page
    assert set(policy["form-action"].split()) == {"'self'", homeserver, calls}
    assert policy["frame-ancestors"] == "'none'"


def _letter_codes(pdf: Path) -> dict[str, tuple[str, str]]:
    """Each page's person → (login, code), read back from the PDF as a parent would."""
    found = {}
    for page in PdfReader(pdf).pages:
        text = page.extract_text()
        name = text.splitlines()[2].split(" (")[0]
        login = re.search(r"Логин: (\S+)", text)
        code = re.search(r"Код для первого входа: ([A-Z0-9-]+)", text)
        assert login is not None, text
        assert code is not None, text
        found[name] = (login.group(1), code.group(1))
    return found


async def test_a_parent_gets_in_with_the_code_of_her_access_letter(
    page: Page, site: DiarySite, tmp_path: Path
) -> None:
    """No e-mail needed: the school prints letters; the parent types the code, chooses her
    password and lands in «Чаты»; the code works once; a new letter voids the old code."""
    letters = tmp_path / "5А.pdf"
    config = str(site.config.state_dir / "parta.yaml")
    made = parta("people", "letters", "-c", config, "--class", "5А", "--out", str(letters))
    assert made.returncode == 0, made.stdout + made.stderr
    codes = _letter_codes(letters)
    assert set(codes) >= {"Ученик0 Иван", "Ученик1 Иван", "Ученик2 Иван", "Родитель-p1 Мария"}
    shown = await asyncio.to_thread(  # a real PDF renderer draws the first letter (README)
        subprocess.run,
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", str(letters),
         str(SCREENSHOTS / "access-letter")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert (SCREENSHOTS / "access-letter.png").stat().st_size > 5_000
    login, code = codes["Родитель-p1 Мария"]
    await page.goto(f"{site.url}/login")
    await page.get_by_test_id("first-login").click()
    await page.get_by_label("Код из письма").fill(code.lower())  # typed as it comes
    await page.get_by_role("button", name="Продолжить").click()
    await expect(page.get_by_test_id("whose")).to_contain_text(f"логин {login}")
    await page.screenshot(path=str(SCREENSHOTS / "diary-activate.png"))
    await page.get_by_label("Новый пароль").fill("мой-новый-пароль")
    await page.get_by_label("Повторите пароль").fill("мой-новый-пароль")
    await page.get_by_role("button", name="Сохранить пароль и войти").click()
    await expect(page).to_have_url(f"{site.url}/chats")
    await page.context.clear_cookies()
    await sign_in(page, site, login, "мой-новый-пароль")
    await expect(page).to_have_url(f"{site.url}/diary")
    await page.goto(f"{site.url}/activate/{code}")
    await expect(page.get_by_test_id("error")).to_contain_text("уже использован")
    _, older = codes["Ученик0 Иван"]
    again = parta(
        "people", "letters", "-c", config, "--person", "web-s1", "--out", str(tmp_path / "s1.pdf")
    )
    assert again.returncode == 0, again.stderr
    await page.goto(f"{site.url}/activate/{older}")
    await expect(page.get_by_test_id("error")).to_be_visible()  # the reprinted letter voided it


async def test_the_administration_prints_a_classs_letters_and_a_class_teacher_only_hers(
    page: Page, site: DiarySite, tmp_path: Path
) -> None:
    await sign_in(page, site, "web-a1")
    await page.get_by_role("link", name="Управление → Доступ").click()
    sections = page.get_by_test_id("access-class")
    await expect(sections).to_have_count(3)  # 5А, 5Б, 6А
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name=re.compile("Письма для класса 5А")).click()
    pdf = tmp_path / "5А.pdf"
    await (await downloading.value).save_as(pdf)
    names = set(_letter_codes(pdf))
    assert names == {"Ученик0 Иван", "Ученик1 Иван", "Ученик2 Иван", "Родитель-p1 Мария",
                     "Родитель-p2 Мария"}  # fmt: skip
    await page.context.clear_cookies()
    await sign_in(page, site, "web-t2")  # class teacher of 5Б
    await expect(page).to_have_url(f"{site.url}/diary")
    await page.goto(f"{site.url}/manage/access")
    await expect(sections).to_have_count(1)
    await expect(sections).to_contain_text("5Б")
    await page.context.clear_cookies()
    await sign_in(page, site, "web-p3")  # (web-p1 chose her own password above)
    await expect(page).to_have_url(f"{site.url}/diary")  # signed in before going on
    answer = await page.goto(f"{site.url}/manage/access")
    assert answer is not None
    assert answer.status == 403


async def test_a_parent_without_e_mail_gets_her_reset_link_by_sms(
    page: Page, site: DiarySite
) -> None:
    outbox = site.config.state_dir / "sms-outbox"
    before = set(outbox.glob("*.json")) if outbox.exists() else set()
    await page.goto(f"{site.url}/forgot")
    await page.get_by_label("Логин, телефон или электронная почта").fill("8 (912) 000-00-03")
    await page.get_by_role("button", name="Восстановить пароль").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("SMS")
    (sent,) = set(outbox.glob("*.json")) - before
    sms = json.loads(sent.read_text(encoding="utf-8"))
    assert sms["to"] == "+79120000003"
    link = sms["text"].rsplit(" ", 1)[-1]
    await page.goto(link)
    await page.get_by_label("Новый пароль").fill("пароль-из-смс")
    await page.get_by_label("Повторите пароль").fill("пароль-из-смс")
    await page.get_by_role("button", name="Сохранить пароль").click()
    await sign_in(page, site, "+79120000003", "пароль-из-смс")
    await expect(page).to_have_url(f"{site.url}/diary")


async def _listed(site: DiarySite, day: date) -> dict[str, dict[str, str]]:
    """What the bots read: the distance lessons of ``day``."""
    token = site.config.diary_api_token_file.read_text().strip()
    span = f"from={day.isoformat()}T00:00&to={(day + timedelta(days=1)).isoformat()}T00:00"
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{site.url}/api/v1/distance-lessons?{span}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    return {item["lesson_id"]: item for item in answer.json()["lessons"]}


async def test_a_teacher_sets_a_consultation_at_any_time_moves_it_and_cancels_it(
    page: Page, site: DiarySite
) -> None:
    """Issue 21, item 3: not only timetable slots; the students' week and the bots follow."""
    day = next_school_day(site.day)
    await sign_in(page, site, "web-t4")
    await page.goto(f"{site.url}/journal/class/{site.sid('5a-math')}")
    form = page.get_by_role("region", name="Назначить урок")
    await form.get_by_label("Консультация").check()
    await form.get_by_label("Дата").fill(day.isoformat())
    await form.get_by_label("Начало").fill("16:00")
    await form.get_by_label("Окончание").fill("15:00")
    await form.get_by_role("button", name="Назначить").click()
    await expect(page.get_by_test_id("error")).to_have_text(
        "Урок должен закончиться позже, чем начнётся"
    )
    assert not [k for k in await _listed(site, day) if not k.startswith(site.prefix)]
    await form.get_by_label("Консультация").check()
    await form.get_by_label("Дата").fill(day.isoformat())
    await form.get_by_label("Начало").fill("16:00")
    await form.get_by_label("Окончание").fill("16:45")
    await form.get_by_role("button", name="Назначить").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Урок назначен")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Консультация: Математика")
    await page.screenshot(path=SCREENSHOTS / "journal-consultation.png", full_page=True)
    lesson_id = page.url.split("/journal/lesson/")[1].split("?")[0].replace("%40", "@")
    listed = await _listed(site, day)
    assert listed[lesson_id]["subject"] == "Консультация: Математика"
    assert listed[lesson_id]["starts_at"].endswith("16:00:00")

    # a student of the class sees it in her week, with the icon
    student = await page.context.browser.new_page()  # type: ignore[union-attr]
    await sign_in(student, site, "web-s2")
    await student.goto(f"{site.url}/diary?week={day.isoformat()}")
    row = student.locator(f'tr[data-lesson="{lesson_id}"]')
    await expect(row).to_contain_text("Консультация: Математика")
    await expect(row.get_by_test_id("distance-icon")).to_be_visible()

    # moved within the day: the same lesson (the bot edits its message), at the new time
    await page.get_by_role("region", name="Перенести").get_by_label("Начало").fill("17:00")
    await page.get_by_role("region", name="Перенести").get_by_label("Окончание").fill("17:30")
    await page.get_by_role("button", name="Перенести", exact=True).click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Урок перенесён")
    assert (await _listed(site, day))[lesson_id]["starts_at"].endswith("17:00:00")
    await student.reload()
    await expect(student.locator(f'tr[data-lesson="{lesson_id}"]')).to_contain_text("17:00")

    # cancelled: gone from the week and from what the bots read (they mark it «Отменён»)
    await page.get_by_text("Отменить урок").click()
    await page.get_by_role("button", name="Да, отменить").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Урок отменён")
    assert lesson_id not in await _listed(site, day)
    await student.reload()
    await expect(student.locator(f'tr[data-lesson="{lesson_id}"]')).to_have_count(0)
    await student.close()


async def test_a_student_cannot_set_a_lesson_and_a_teacher_cannot_cancel_the_timetable(
    page: Page, site: DiarySite
) -> None:
    await sign_in(page, site, "web-t4")
    await page.goto(f"{site.url}/journal/lesson/{site.later()}")
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value")
    answer = await page.request.post(
        f"{site.url}/journal/lesson/{site.later()}/cancel", form={"csrf": csrf or ""}
    )
    assert answer.status == 403  # a timetable lesson is the school's timetable's
    assert site.later() in await _listed(site, site.day)
    await page.context.clear_cookies()
    await sign_in(page, site, "web-s1")
    await page.goto(f"{site.url}/diary")
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value")
    answer = await page.request.post(
        f"{site.url}/journal/class/{site.sid('5a-math')}/lessons",
        form={"csrf": csrf or "", "day": site.day.isoformat(), "start": "18:00", "end": "18:45"},
    )
    assert answer.status == 403


async def test_a_distance_lesson_s_page_shows_presence_from_the_bridge_and_its_csv(
    page: Page, site: DiarySite
) -> None:
    """Issue 19, item 5: Журнал → a lesson that has begun → «Присутствие», asked of the real
    call bridge (nobody has joined this one: every student «нет»), and the same as CSV."""
    await sign_in(page, site, "web-t4")
    await page.goto(f"{site.url}/journal/lesson/{site.open_now()}")
    table = page.get_by_test_id("presence")
    await expect(page.get_by_role("heading", name="Присутствие")).to_be_visible()
    students = sorted(
        site.diary.people[p].display_name
        for p in site.diary.members_of(site.sid("5a-math"), EnrollmentRole.STUDENT)
    )
    await expect(table.locator("tbody tr")).to_have_count(len(students))
    await expect(page.get_by_test_id("presence-count")).to_have_text(
        f"На уроке: 0 из {len(students)}"
    )
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Скачать CSV").click()
    saved = await (await waiting.value).path()
    lines = saved.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0] == "Урок;Ученик;Был на уроке;Минут;Пришёл;Ушёл"
    assert sorted(line.split(";")[1] for line in lines[1:]) == students
    assert all(line.split(";")[2] == "нет" for line in lines[1:])
    later = await page.goto(f"{site.url}/journal/lesson/{site.later()}")
    assert later is not None
    await expect(page.get_by_role("heading", name="Присутствие")).to_have_count(0)  # not begun

    store = DiaryStore.open(site.config.diary_store_url())
    try:  # (the access-letters test above has her choose her own password)
        store.set_password_hash(site.sid("p1"), PasswordHasher().hash(PASSWORD))
    finally:
        store.close()
    for who in ("web-s1", "web-p1"):  # the student, and her parent, see her own presence
        await page.context.clear_cookies()
        await sign_in(page, site, who)
        await page.goto(f"{site.url}/diary?student=web-s1")
        row = page.locator(f'tr[data-lesson="{site.open_now()}"]')
        await expect(row.get_by_test_id("presence")).to_have_text("Присутствие: нет")
        later_row = page.locator(f'tr[data-lesson="{site.later()}"]')
        await expect(later_row.get_by_test_id("presence")).to_have_count(0)


async def test_the_administrator_sees_the_system_s_state_and_a_teacher_does_not(
    page: Page, site: DiarySite, school: SchoolSync
) -> None:
    """Issue 18, item 3: Управление → Состояние — each part of the system working (asked of
    the real components), the last sync with the roster, who has joined the chats by role,
    today's distance lessons."""
    synced = await school.run(site.diary, SyncOptions())
    await sign_in(page, site, "web-a1")
    await page.get_by_role("link", name="Управление → Состояние").click()
    await expect(page.get_by_test_id("overall")).to_have_text("Всё работает.")
    parts = page.get_by_test_id("parts")
    for title in ("Сервер чатов (Synapse)", "Школьный бот", "Звонки и дистанционные уроки"):
        await expect(parts.locator("tr", has_text=title)).to_contain_text("работает")
    students = sum(p.role is Role.STUDENT for p in site.diary.people.values())
    await expect(page.get_by_test_id("linked").locator("tr", has_text="Ученики")).to_contain_text(
        f"из {students}"
    )
    await expect(page.get_by_test_id("lessons-today")).to_contain_text("Математика")
    last = page.get_by_test_id("last-sync")
    await expect(last).to_contain_text(f"изменений {len(synced.actions)}, ошибок нет")
    today = datetime.now(ZoneInfo(site.config.diary.timezone)).strftime("%d.%m.%Y")
    await expect(last).to_contain_text(today)
    await page.screenshot(path=SCREENSHOTS / "diary-status.png", full_page=True)
    await page.context.clear_cookies()
    await sign_in(page, site, "web-t1")
    answer = await page.goto(f"{site.url}/manage/status")
    assert answer is not None
    assert answer.status == 403
