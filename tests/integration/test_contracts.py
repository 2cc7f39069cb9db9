"""One test per internal endpoint: the shared client (kernel.contracts) against the real
server of the session's school, so a field either side renames fails here first."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from appservice.school_sync import SchoolSync, SyncOptions
from kernel.contracts.appservice import LinkRequest, commands_since, link
from kernel.contracts.base import ApiError, call
from kernel.contracts.bots import BotsApi, HomeworkList, JoinRequest, MeetingRequest
from kernel.contracts.bridge import PLACE_PATH, BridgeApi, Placement
from kernel.contracts.diary import (
    CHECK_PASSWORD_PATH,
    DiaryApi,
    PasswordCheck,
    PasswordChecked,
)
from kernel.contracts.policy import ENTER_PATH, Answer, EnterQuestion
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from tests.school import small_school

pytestmark = pytest.mark.integration

PREFIX = "ct"


def _secret(path: object) -> str:
    return str(path.read_text()).strip()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
async def synced(school: SchoolSync) -> SchoolSync:
    await school.run(small_school(PREFIX), SyncOptions())
    return school


async def test_the_diarys_distance_lessons(stack: SchoolStack) -> None:
    config = stack.config
    api = DiaryApi(config.diary_internal_url, _secret(config.diary_api_token_file))
    now = datetime.now().replace(microsecond=0)
    lessons = await api.distance_lessons(now, now + timedelta(days=7))
    assert lessons.timezone == config.diary.timezone
    with pytest.raises(ApiError) as refused:
        await DiaryApi(config.diary_internal_url, "forged-token").distance_lessons(now, now)
    assert refused.value.status == 401


async def test_the_diarys_password_check(stack: SchoolStack) -> None:
    config = stack.config
    url = config.diary_internal_url + CHECK_PASSWORD_PATH
    token = _secret(config.password_check_token_file)
    asked = PasswordCheck(login="nobody-at-all", password="not-a-password")
    with pytest.raises(ApiError) as refused:
        await call("POST", url, token, PasswordChecked, body=asked)
    assert refused.value.status == 403


async def test_the_appservices_link_and_commands(stack: SchoolStack, synced: SchoolSync) -> None:
    config = stack.config
    linked = await link(
        config.appservice_url,
        _secret(config.link_token_file),
        LinkRequest(person_id=f"{PREFIX}-t1"),
    )
    assert linked.user_id == synced.puppet_id(SourcedId(f"{PREFIX}-t1"))
    assert linked.rooms
    with pytest.raises(ApiError) as unknown:
        await link(
            config.appservice_url,
            _secret(config.link_token_file),
            LinkRequest(person_id="nobody-here"),
        )
    assert unknown.value.status == 404
    page = await commands_since(config.appservice_url, _secret(config.bots_token_file), "0")
    assert page.next >= 0


async def test_the_policy_question(stack: SchoolStack, synced: SchoolSync) -> None:
    question = EnterQuestion(
        room_id="!not-a-diary-room:school", user_id="@x:school", federates=False, open=False
    )
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            stack.config.appservice_url + ENTER_PATH,
            json=question.model_dump(),
            headers={"Authorization": f"Bearer {_secret(stack.config.hs_token_file)}"},
        )
    assert Answer.model_validate(answer.json()).members_needed is True


async def test_the_bots_invites_meetings_and_homework(stack: SchoolStack) -> None:
    config = stack.config
    bots = BotsApi(config.bots_url, _secret(config.invite_token_file))
    with pytest.raises(ApiError) as missing:
        await bots.invite("no-such-link")
    assert missing.value.status == 404
    assert missing.value.reason == "Такой ссылки нет"
    with pytest.raises(ApiError) as gone:
        await bots.join("no-such-link", JoinRequest(user_id="@x:school", role="parent"))
    assert gone.value.status == 404
    homework = await bots.homework("!a-room:school")
    assert homework == HomeworkList(room_id="!a-room:school", homework=[])
    starts = datetime.now() + timedelta(days=1)
    asked = MeetingRequest(
        key="contract-1",
        organiser="@x:school",
        title="Итоги",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=45),
        room_alias="#no-such-chat:school",
    )
    with pytest.raises(ApiError) as nowhere:
        await bots.meeting(asked)
    assert nowhere.value.status == 404


async def test_the_bridges_attendance_and_placement(stack: SchoolStack) -> None:
    config = stack.config
    bridge = BridgeApi(config.call_bridge_url, _secret(config.diary_api_token_file))
    attendance = await bridge.attendance("lesson/contract@2026-12-05")
    assert attendance.attendance == []
    with pytest.raises(ApiError) as refused:
        await BridgeApi(config.call_bridge_url, "forged").attendance("lesson/x@2026-12-05")
    assert refused.value.status == 401
    async with httpx.AsyncClient() as http:
        placed = await http.get(config.call_bridge_url + PLACE_PATH, params={"call": "room/!r:s"})
    assert Placement.model_validate(placed.json()).worker in range(config.call_bridge.workers)
