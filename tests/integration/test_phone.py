"""Phone-first (issue 21, item 8): every diary page on a 390×844 screen in Chromium, as each
role — nothing wider than the screen, every tab of the menu on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from parta.stack import SchoolStack
from tests.browser import sign_in_at
from tests.integration.diary_site import PASSWORD, DiarySite, running_diary

pytestmark = pytest.mark.integration
PHONE = ViewportSize(width=390, height=844)


@pytest.fixture(scope="module")
def site(stack: SchoolStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiarySite]:
    with running_diary(stack.config, tmp_path_factory.mktemp("phone"), "ph") as running:
        yield running


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    yield page
    await context.close()


async def overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: it fits)."""
    width: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


async def visit(page: Page, site: DiarySite, paths: list[str]) -> list[str]:
    wide = []
    for path in paths:
        answer = await page.goto(f"{site.url}{path}")
        assert answer is not None
        assert answer.status < 500, (path, answer.status)
        extra = await overflow(page)
        if extra > 0:
            wide.append(f"{path}: {extra}px wider than the screen")
    return wide


async def test_pages_before_signing_in_fit_a_phone(phone: Page, site: DiarySite) -> None:
    assert await visit(phone, site, ["/login", "/forgot", "/activate"]) == []


@pytest.mark.parametrize(
    ("who", "paths"),
    [
        ("s1", ["/diary", "/chats", "/chats/link"]),
        ("p2", ["/diary", "/chats", "/chats/link"]),
        (
            "t1",
            [
                "/diary",
                "/journal",
                "/journal/class/ph-5a-math",
                "/journal/lesson/{later}",
                "/manage/meetings",
                "/manage/access",
                "/manage/chats",
                "/chats",
            ],
        ),
        (
            "a1",
            [
                "/diary",
                "/journal",
                "/manage/meetings",
                "/manage/access",
                "/manage/chats",
                "/manage/moderation",
                "/manage/status",
            ],
        ),
    ],
)
async def test_every_page_of_each_role_fits_a_phone_and_its_menu_is_on_screen(
    phone: Page, site: DiarySite, who: str, paths: list[str]
) -> None:
    await sign_in_at(phone, site.url, f"ph-{who}", PASSWORD)
    wide = await visit(phone, site, [p.replace("{later}", site.later()) for p in paths])
    assert wide == []
    await phone.goto(f"{site.url}/diary")
    tabs = phone.get_by_role("navigation").get_by_role("link")
    await expect(tabs.first).to_be_visible()
    for tab in await tabs.all():
        box = await tab.bounding_box()
        assert box is not None
        name = await tab.inner_text()
        assert box["x"] >= 0, name
        assert box["x"] + box["width"] <= PHONE["width"], f"«{name}» is off the screen"
