"""Accessibility (issue 21, item 11): WCAG 2.1 AA, checked by axe-core in Chromium on every
page of the diary as each role — no serious or critical violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page

from parta.stack import SchoolStack
from tests.browser import accessibility_problems, sign_in_at
from tests.integration.diary_site import PASSWORD, DiarySite, running_diary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(stack: SchoolStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiarySite]:
    with running_diary(stack.config, tmp_path_factory.mktemp("a11y"), "ax") as running:
        yield running


async def check(page: Page, site: DiarySite, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        await page.goto(f"{site.url}{path}")
        found += await accessibility_problems(page, path)
    return found


async def test_the_pages_before_signing_in(page: Page, site: DiarySite) -> None:
    assert await check(page, site, ["/login", "/forgot", "/activate"]) == []


@pytest.mark.parametrize(
    ("who", "paths"),
    [
        ("s1", ["/diary", "/chats", "/chats/link"]),
        ("p2", ["/diary", "/chats"]),
        ("a1", ["/manage/moderation", "/manage/access", "/manage/status"]),
        (
            "t1",
            [
                "/diary",
                "/journal",
                "/journal/class/ax-5a-math",
                "/journal/lesson/{later}",
                "/manage/meetings",
                "/manage/access",
                "/manage/chats",
            ],
        ),
    ],
)
async def test_each_role_s_pages(page: Page, site: DiarySite, who: str, paths: list[str]) -> None:
    await sign_in_at(page, site.url, f"ax-{who}", PASSWORD)
    problems = await check(page, site, [p.replace("{later}", site.later()) for p in paths])
    assert problems == [], "\n".join(problems)


async def test_the_not_started_notice_and_a_form_with_an_error(page: Page, site: DiarySite) -> None:
    await sign_in_at(page, site.url, "ax-s1", PASSWORD)
    later = page.locator(f'tr[data-lesson="{site.later()}"]')
    await later.get_by_test_id("distance-icon").click()
    problems = await accessibility_problems(page, "«Урок еще не начался»")
    await page.goto(f"{site.url}/login")
    await page.goto(f"{site.url}/forgot")
    await page.get_by_role("button").last.click()  # sent empty: the error is shown
    problems += await accessibility_problems(page, "/forgot with an error")
    assert problems == [], "\n".join(problems)


async def test_the_checker_itself_sees_an_unlabelled_button_and_low_contrast(page: Page) -> None:
    """The check can fail: a page with faults a screen reader user would meet is refused."""
    await page.set_content(
        '<html lang="ru"><head><title>t</title></head><body><main>'
        '<button type="button"></button><p style="color:#bbb;background:#fff">Серый текст</p>'
        "</main></body></html>"
    )
    problems = await accessibility_problems(page, "faulty")
    assert any("button-name" in p for p in problems), problems
    assert any("color-contrast" in p for p in problems), problems
