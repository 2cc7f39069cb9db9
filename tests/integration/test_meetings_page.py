"""«Управление → Собрания» (D6) in Chromium: a class meeting and a one-to-one meeting.

The class teacher fills the diary's form; the school's bots post the invitation with the
join link; a parent's matrix-nio client reads it in the right room. A request sent twice
(the same form key) posts one invitation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import nio
import pytest
from playwright.async_api import Page, expect

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.ids import RoomAlias, SourcedId
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack
from tests.browser import sign_in_at
from tests.integration.conftest import nio_client
from tests.integration.diary_site import serve_school
from tests.school import small_school

pytestmark = pytest.mark.integration
PREFIX = "meet"
PASSWORD = "пароль-собраний"


def sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


@pytest.fixture(scope="module")
async def logins(stack: SchoolStack, school: SchoolSync) -> dict[str, str]:
    diary = small_school(PREFIX)
    await serve_school(stack, school, diary, PASSWORD)
    found: dict[str, str] = {}
    store = stack.open_diary_store()
    try:
        for local in ("t1", "p1", "p2"):
            await school.link(diary, sid(local), None, SyncOptions())
            store.set_matrix_user(sid(local), school.puppet_id(sid(local)))
            account = store.account(sid(local))
            assert account is not None
            found[local] = account.login
    finally:
        store.close()
    return found


async def nio_login(stack: SchoolStack, school: SchoolSync, local: str) -> nio.AsyncClient:
    return await nio_client(stack, school.puppet_id(sid(local)))


async def invitations(client: nio.AsyncClient, room: str) -> list[dict[str, Any]]:
    answer = await client.room_messages(room, limit=50)
    assert isinstance(answer, nio.RoomMessagesResponse), answer
    return [e.source for e in answer.chunk if "org.parta.meeting" in e.source["content"]]


def tomorrow(stack: SchoolStack) -> str:
    zone = ZoneInfo(stack.config.diary.timezone)
    return (datetime.now(zone) + timedelta(days=1)).date().isoformat()


async def fill(page: Page, where: str, title: str, day: str) -> None:
    await page.get_by_label("Для кого").select_option(label=where)
    await page.get_by_label("Тема").fill(title)
    await page.get_by_label("Дата").fill(day)
    await page.get_by_label("Время").fill("18:30")
    await page.get_by_label("Минут").fill("40")
    await page.get_by_role("button", name="Назначить собрание").click()


async def test_a_class_teacher_calls_a_class_meeting_and_a_one_to_one_meeting(
    stack: SchoolStack, school: SchoolSync, client: MatrixClient, page: Page, logins: dict[str, str]
) -> None:
    await sign_in_at(page, stack.config.diary_url, logins["t1"], PASSWORD)
    await page.get_by_role("link", name="Управление → Собрания").click()
    await expect(page.get_by_role("heading", name="Собрания")).to_be_visible()
    day = tomorrow(stack)
    await fill(page, "5А — родители", "Итоги четверти", day)
    await expect(page.get_by_test_id("meeting-done")).to_contain_text("«5А — родители»")

    parents_room = await client.resolve_alias(
        RoomAlias(
            f"#{room_key(sid('org'), RoomKind.CLASS_PARENTS, f'{PREFIX}-5a')}"
            f":{stack.config.server_name}"
        )
    )
    assert parents_room is not None
    parent = await nio_login(stack, school, "p1")
    try:
        posted = await invitations(parent, parents_room)
        assert len(posted) == 1
        meeting = posted[0]["content"]
        assert meeting["body"].startswith("Родительское собрание: Итоги четверти")
        assert meeting["org.parta.meeting"]["starts_at"] == f"{day}T18:30:00"
        assert meeting["org.parta.meeting"]["ends_at"] == f"{day}T19:10:00"
        assert meeting["org.parta.meeting"]["call_url"].startswith(stack.config.call_bridge_url)
        assert posted[0]["sender"] == school.bot

        await page.get_by_role("link", name="Управление → Собрания").click()
        await fill(page, "Родитель-p1 Мария (Иван)", "Поведение на уроках", day)
        done = page.get_by_test_id("meeting-done")
        await expect(done).to_contain_text("«Родитель-p1 Мария»")
        synced = await parent.sync(timeout=0, full_state=True)
        assert isinstance(synced, nio.SyncResponse)
        rooms = [r for r in synced.rooms.join if r != parents_room]  # joined to its own room
        own = [r for r in rooms if (await invitations(parent, r))]
        assert len(own) == 1, rooms
        state = await parent.room_get_state(own[0])
        assert isinstance(state, nio.RoomGetStateResponse)
        names = [e["content"].get("name") for e in state.events if e["type"] == "m.room.name"]
        assert names == ["Встреча: Поведение на уроках"]
        members = {
            e["state_key"]
            for e in state.events
            if e["type"] == "m.room.member" and e["content"].get("membership") == "join"
        }
        assert {school.puppet_id(sid("t1")), school.puppet_id(sid("p1"))} <= members
        assert school.puppet_id(sid("p2")) not in members

        # the same request again (a double click, a retry): still one invitation
        token = stack.config.invite_token_file.read_text().strip()
        body = {
            "key": "retry-1",
            "organiser": school.puppet_id(sid("t1")),
            "title": "Ещё раз",
            "starts_at": f"{day}T19:00:00",
            "ends_at": f"{day}T19:30:00",
            "room_alias": f"#{room_key(sid('org'), RoomKind.CLASS_PARENTS, f'{PREFIX}-5a')}"
            f":{stack.config.server_name}",
        }
        async with httpx.AsyncClient(timeout=60) as http:
            url = f"{stack.config.bots_url}/_parta/v1/meetings"
            first = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
            again = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
            forged = await http.post(url, json=body, headers={"Authorization": "Bearer forged"})
            by_parent = await http.post(
                url,
                json={**body, "key": "p", "organiser": school.puppet_id(sid("p1"))},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert first.status_code == 200, first.text
        assert again.json() == first.json()
        assert forged.status_code == 401
        assert by_parent.status_code == 403  # a parent has no staff power in the parents' chat
        titles = [e["content"]["body"] for e in await invitations(parent, parents_room)]
        assert len(titles) == 2
        assert sum("Ещё раз" in t for t in titles) == 1
    finally:
        await parent.close()


async def test_a_parent_cannot_open_the_meetings_page(
    stack: SchoolStack, page: Page, logins: dict[str, str]
) -> None:
    await sign_in_at(page, stack.config.diary_url, logins["p1"], PASSWORD)
    await expect(page.get_by_role("link", name="Управление → Собрания")).to_have_count(0)
    answer = await page.goto(f"{stack.config.diary_url}/manage/meetings")
    assert answer is not None
    assert answer.status == 403


async def test_a_meeting_now_opens_its_call_at_once_and_reminds_nobody_later(
    stack: SchoolStack, school: SchoolSync, client: MatrixClient, page: Page, logins: dict[str, str]
) -> None:
    """Issue 21, item 5: «Начать сейчас» — no date or time to fill, the invitation says
    «Присоединиться» to a call that is open now."""
    await sign_in_at(page, stack.config.diary_url, logins["t1"], PASSWORD)
    await page.get_by_role("link", name="Управление → Собрания").click()
    await page.get_by_label("Для кого").select_option(label="5А — родители")
    await page.get_by_label("Тема").fill("Срочный вопрос")
    await page.get_by_label("Минут").fill("30")
    await page.get_by_role("button", name="Начать сейчас").click()
    await expect(page.get_by_test_id("meeting-done")).to_contain_text("«Срочный вопрос»")
    zone = ZoneInfo(stack.config.diary.timezone)
    parents_room = await client.resolve_alias(
        RoomAlias(
            f"#{room_key(sid('org'), RoomKind.CLASS_PARENTS, f'{PREFIX}-5a')}"
            f":{stack.config.server_name}"
        )
    )
    assert parents_room is not None
    parent = await nio_login(stack, school, "p1")
    try:
        posted = [
            e["content"]
            for e in await invitations(parent, parents_room)
            if "Срочный вопрос" in e["content"]["body"]
        ]
        assert len(posted) == 1
        starts = datetime.fromisoformat(posted[0]["org.parta.meeting"]["starts_at"])
        ends = datetime.fromisoformat(posted[0]["org.parta.meeting"]["ends_at"])
        now = datetime.now(zone).replace(tzinfo=None)
        assert starts <= now < ends  # the call is open now
        assert ends - starts == timedelta(minutes=30)
    finally:
        await parent.close()
