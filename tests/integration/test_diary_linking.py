"""«Чаты» → «Привязать учебный профиль»: the seed's three cases, each ending in Synapse.

The session's school (Synapse, appservice, diary) serves a small school; every
case is driven in Chromium and checked through Synapse: the person's account is
joined to exactly the rooms the diary puts them in.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from pypdf import PdfReader

from appservice.diary_sync.layout import layout_diary
from appservice.diary_sync.model import Diary
from appservice.school_sync import SchoolSync, SyncOptions
from appservice.store import Store
from kernel.ids import SourcedId
from kernel.secrets import read_secret_file
from parta.stack import SchoolStack
from tests.browser import SCREENSHOTS, sign_in_at
from tests.integration.diary_site import serve_school
from tests.integration.test_cli import parta
from tests.integration.test_linking import register_ordinary_user
from tests.school import small_school

pytestmark = pytest.mark.integration
PASSWORD = "пароль-дневника"


@pytest.fixture(scope="module")
async def diary(stack: SchoolStack, school: SchoolSync) -> Diary:
    base = small_school("lk")
    people = {
        pid: replace(p, email=f"{pid}@school.test", phone="") for pid, p in base.people.items()
    }
    mother = SourcedId("lk-p2")  # like most parents: no e-mail, only the school's letter
    people[mother] = replace(people[mother], email="", phone="+7 912 000-00-22")
    diary = replace(base, people=people)
    await serve_school(stack, school, diary, PASSWORD)
    return diary


def expected_rooms(diary: Diary, store: Store, person: str) -> set[str]:
    ids = store.room_ids()
    return {
        ids[spec.key]
        for layout in layout_diary(diary)
        for spec in layout.rooms
        if SourcedId(person) in spec.members
    }


async def joined_rooms(stack: SchoolStack, user_id: str, token: str | None = None) -> set[str]:
    """A puppet's rooms through the appservice, anyone else's with their own token."""
    params = {} if token else {"user_id": user_id}
    bearer = token or read_secret_file(stack.config.as_token_file)
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url) as http:
        answer = await http.get(
            "/_matrix/client/v3/joined_rooms",
            params=params,
            headers={"Authorization": f"Bearer {bearer}"},
        )
    assert answer.status_code == 200, answer.text
    return set(answer.json()["joined_rooms"])


async def open_link_page(page: Page, stack: SchoolStack, login: str) -> None:
    await sign_in_at(page, stack.config.diary_url, login, PASSWORD)
    await page.get_by_role("navigation").get_by_role("link", name="Чаты", exact=True).click()
    await page.get_by_role("link", name="Привязать учебный профиль").click()


async def test_a_person_without_an_account_gets_one_with_the_phone_as_login(
    page: Page, stack: SchoolStack, diary: Diary, store: Store
) -> None:
    await open_link_page(page, stack, "lk-s1")
    await page.screenshot(path=SCREENSHOTS / "chats-link.png", full_page=True)
    case = page.get_by_role("region", name="3. Нет учётной записи")
    await case.get_by_label("Мобильный телефон").fill("+7 (900) 555-01-01")
    await case.get_by_label("Пароль (не короче 8 символов)").fill("новый-пароль-1")
    await case.get_by_label("Повторите пароль").fill("новый-пароль-1")
    await case.get_by_role("button", name="Создать учётную запись").click()
    await expect(page.get_by_role("status").first).to_contain_text("Учебный профиль привязан")
    puppet = f"@parta.lk-s1:{stack.config.server_name}"
    await expect(page.get_by_test_id("matrix-id")).to_have_text(puppet)
    await expect(page.get_by_test_id("chat-list")).to_contain_text("5А")
    await page.screenshot(path=SCREENSHOTS / "chats-linked.png", full_page=True)
    assert await joined_rooms(stack, puppet) == expected_rooms(diary, store, "lk-s1")
    # the messenger's single sign-on round trip ends before the diary's session does
    await expect(page.get_by_test_id("messenger")).to_have_attribute(
        "data-ready", "1", timeout=30_000
    )
    # the phone now signs in to the diary, with the password just set
    await page.context.clear_cookies()
    await sign_in_at(page, stack.config.diary_url, "89005550101", "новый-пароль-1")
    await expect(page).to_have_url(f"{stack.config.diary_url}/diary")


async def test_an_adult_links_their_own_matrix_account_and_is_joined(
    page: Page, stack: SchoolStack, diary: Diary, store: Store
) -> None:
    user, token = await register_ordinary_user(stack, "lk-mama")
    await open_link_page(page, stack, "lk-p1")
    case = page.get_by_role("region", name="2. Есть учётная запись Matrix, но нет учебного профиля")
    await case.get_by_label("Matrix ID").fill(user)
    await case.get_by_label("Пароль от этой учётной записи").fill("не тот пароль")
    await case.get_by_role("button", name="Привязать эту учётную запись").click()
    await expect(page.get_by_test_id("error")).to_have_text("Неверный Matrix ID или пароль")
    case = page.get_by_role("region", name="2. Есть учётная запись Matrix, но нет учебного профиля")
    await case.get_by_label("Matrix ID").fill(user)
    await case.get_by_label("Пароль от этой учётной записи").fill("correct horse battery staple")
    await case.get_by_role("button", name="Привязать эту учётную запись").click()
    await expect(page.get_by_test_id("matrix-id")).to_have_text(user)
    assert await joined_rooms(stack, user, token) == expected_rooms(diary, store, "lk-p1")


async def test_a_student_cannot_link_an_account_on_another_server(
    page: Page, stack: SchoolStack, diary: Diary
) -> None:
    await open_link_page(page, stack, "lk-s2")
    case = page.get_by_role("region", name="2. Есть учётная запись Matrix, но нет учебного профиля")
    await case.get_by_label("Matrix ID").fill("@pupil:elsewhere.example")
    await case.get_by_label("Пароль от этой учётной записи").fill("whatever-password")
    await case.get_by_role("button", name="Привязать эту учётную запись").click()
    await expect(page.get_by_test_id("error")).to_have_text(
        "Учётная запись ученика может быть только на сервере своей школы"
    )
    await page.get_by_role("navigation").get_by_role("link", name="Чаты", exact=True).click()
    await expect(page.get_by_role("link", name="Привязать учебный профиль")).to_be_visible()


async def test_a_person_already_linked_by_the_school_confirms_and_sees_their_chats(
    page: Page, stack: SchoolStack, diary: Diary, store: Store, school: SchoolSync
) -> None:
    await school.link(diary, SourcedId("lk-t3"), None, SyncOptions())  # `parta people link`
    await open_link_page(page, stack, "lk-t3")
    case = page.get_by_role("region", name="1. Есть учётная запись и учебный профиль")
    await case.get_by_role("button", name="У меня уже есть учебный профиль").click()
    puppet = f"@parta.lk-t3:{stack.config.server_name}"
    await expect(page.get_by_test_id("matrix-id")).to_have_text(puppet)
    assert await joined_rooms(stack, puppet) == expected_rooms(diary, store, "lk-t3")
    await expect(page.get_by_test_id("messenger")).to_have_attribute(
        "data-ready", "1", timeout=30_000
    )  # the messenger's sign-in round trip is over before the next page
    await page.get_by_role("link", name="Управление → Чаты").click()
    await expect(page.get_by_test_id("matrix-id")).to_have_text(puppet)


async def test_a_parent_without_e_mail_starts_from_her_access_letter_and_reaches_her_chats(
    page: Page, stack: SchoolStack, diary: Diary, store: Store, tmp_path: Path
) -> None:
    """Issue 21's first morning: the letter's code, her own password, «Привязать», her chats."""
    letter = tmp_path / "p2.pdf"
    config = str(stack.config.state_dir / "parta.yaml")
    made = parta("people", "letters", "-c", config, "--person", "lk-p2", "--out", str(letter))
    assert made.returncode == 0, made.stdout + made.stderr
    text = PdfReader(letter).pages[0].extract_text()
    found = re.search(r"Код для первого входа: ([A-Z0-9-]+)", text)
    assert found is not None, text
    assert "Ученик1" in text  # her children (s2, s4) are on her letter
    assert "Ученик3" in text
    await page.goto(f"{stack.config.diary_url}/activate/{found.group(1)}")
    await page.get_by_label("Новый пароль").fill("пароль-мамы-1")
    await page.get_by_label("Повторите пароль").fill("пароль-мамы-1")
    await page.get_by_role("button", name="Сохранить пароль и войти").click()
    await expect(page).to_have_url(f"{stack.config.diary_url}/chats")
    await page.get_by_role("link", name="Привязать учебный профиль").click()
    case = page.get_by_role("region", name="3. Нет учётной записи")
    await case.get_by_label("Мобильный телефон").fill("+7 912 000-00-22")
    await case.get_by_label("Пароль (не короче 8 символов)").fill("пароль-мамы-1")
    await case.get_by_label("Повторите пароль").fill("пароль-мамы-1")
    await case.get_by_role("button", name="Создать учётную запись").click()
    await expect(page.get_by_role("status").first).to_contain_text("Учебный профиль привязан")
    puppet = f"@parta.lk-p2:{stack.config.server_name}"
    await expect(page.get_by_test_id("matrix-id")).to_have_text(puppet)
    assert await joined_rooms(stack, puppet) == expected_rooms(diary, store, "lk-p2")
    await expect(page.get_by_test_id("messenger")).to_have_attribute(
        "data-ready", "1", timeout=30_000
    )
