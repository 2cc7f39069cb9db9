"""Debian's Chromium driven by Playwright (never `playwright install`), as the field notes say."""

from __future__ import annotations

from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"


def chromium() -> str:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    return CHROMIUM


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=chromium(), args=FLAGS)


async def sign_in_at(page: Page, url: str, login: str, password: str) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("Логин").fill(login)
    await page.get_by_label("Пароль").fill(password)
    await page.get_by_role("button", name="Войти").click()


WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def accessibility_problems(page: Page, where: str) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 AA violations on the page as it is now
    (its dialogs open or not), one line each: where, the rule, the elements."""

    results = await Axe().run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    )
    found = []
    for v in results.response["violations"]:
        if v.get("impact") in {"serious", "critical"}:
            targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])][:5]
            found.append(f"{where}: {v['id']} ({v['impact']}): {v['help']} — {targets}")
    return found
