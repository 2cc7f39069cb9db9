"""Safe mode through a real Synapse: the policy module refuses with the school's reasons."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from appservice.diary_sync.safety import (
    FEDERATED_ROOM,
    NO_ROOMS_FOR_STUDENTS,
    OUTSIDE_CIRCLE,
    STUDENT_OUTWARD,
    Rules,
)
from appservice.quiet_hours import RULE_ID, QuietHours
from appservice.safety_api import SafetyOracle
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.config import DiaryConfig, SafetyConfig, parse_quiet_hours
from kernel.ids import SourcedId, UserID
from kernel.matrix import MatrixError
from parta.stack import SchoolStack
from tests.integration.conftest import school_config
from tests.ports import free_port
from tests.school import small_school

pytestmark = pytest.mark.integration


class Person:
    def __init__(self, http: httpx.AsyncClient, user_id: str, token: str) -> None:
        self.http, self.user_id = http, user_id
        self.auth = {"Authorization": f"Bearer {token}"}

    async def create(self, **body: object) -> httpx.Response:
        return await self.http.post("/_matrix/client/v3/createRoom", json=body, headers=self.auth)

    async def dm(self, other: Person) -> httpx.Response:
        return await self.create(
            is_direct=True, invite=[other.user_id], preset="trusted_private_chat"
        )

    async def join(self, room: str) -> httpx.Response:
        return await self.http.post(f"/_matrix/client/v3/join/{room}", json={}, headers=self.auth)


@pytest.fixture(scope="module")
async def people(stack: SchoolStack, school: SchoolSync) -> AsyncIterator[dict[str, Person]]:
    diary = small_school("sf")
    await school.run(diary, SyncOptions(eager=True))
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url) as http:
        found = {}
        for local in ("s1", "s2", "s4", "t1", "t3", "p1", "p3"):
            user = school.puppet_id(SourcedId(f"sf-{local}"))
            found[local] = Person(http, user, await school.client.login_as(user))
        yield found


def refused_with(answer: httpx.Response, reason: str) -> bool:
    return answer.status_code == 403 and answer.json().get("error") == reason


async def test_a_stranger_cannot_start_a_direct_chat_with_a_student(
    people: dict[str, Person],
) -> None:
    assert refused_with(await people["p3"].dm(people["s1"]), OUTSIDE_CIRCLE)  # 6А's parent
    assert refused_with(await people["s4"].dm(people["s1"]), STUDENT_OUTWARD)  # a 5Б pupil


async def test_the_class_teacher_own_parent_and_a_classmate_can(
    people: dict[str, Person],
) -> None:
    for who in ("t1", "p1", "s2"):
        answer = await people[who].dm(people["s1"])
        assert answer.status_code == 200, (who, answer.text)


async def test_a_student_cannot_create_a_group_room(people: dict[str, Person]) -> None:
    answer = await people["s1"].create(name="Наш тайный чат")
    assert refused_with(answer, NO_ROOMS_FOR_STUDENTS)


async def test_a_student_is_never_invited_into_or_joins_a_room_that_federates(
    people: dict[str, Person],
) -> None:
    federated = await people["t3"].create(name="Методобъединение", preset="public_chat")
    assert federated.status_code == 200
    room = federated.json()["room_id"]
    invite = await people["t3"].http.post(
        f"/_matrix/client/v3/rooms/{room}/invite",
        json={"user_id": people["s1"].user_id},
        headers=people["t3"].auth,
    )
    assert refused_with(invite, FEDERATED_ROOM)
    assert refused_with(await people["s1"].join(room), FEDERATED_ROOM)
    assert (await people["t1"].join(room)).status_code == 200  # adults may


async def test_quiet_hours_mute_linked_students_only_and_lift_after(
    stack: SchoolStack, school: SchoolSync
) -> None:
    diary = small_school("qh")
    await school.run(diary, SyncOptions())
    for person in ("qh-s1", "qh-t1"):
        await school.link(diary, SourcedId(person), None, SyncOptions())
    clock = {"now": datetime(2026, 11, 30, 22, 30)}
    oracle = SafetyOracle(school.store, Rules(), school.server, school.bot)
    quiet = QuietHours(
        school.client,
        school.store,
        parse_quiet_hours("21:00-07:00"),
        lambda: clock["now"],
        oracle.school,
    )
    student, teacher = school.puppet_id(SourcedId("qh-s1")), school.puppet_id(SourcedId("qh-t1"))

    async def rule_of(user: str) -> dict[str, object] | None:
        try:
            found = await school.client.request(
                "GET",
                f"/_matrix/client/v3/pushrules/global/override/{RULE_ID}",
                as_user=UserID(user),
            )
        except MatrixError:
            return None
        return found

    assert await quiet.tick() == 2  # the rule, then its state, for the one linked student
    on = await rule_of(student)
    assert on is not None
    assert on["enabled"] is True
    assert on["actions"] == ["dont_notify"]
    assert await rule_of(teacher) is None
    assert await quiet.tick() == 0  # nothing to change
    clock["now"] = datetime(2026, 12, 1, 7, 0)
    assert await quiet.tick() == 2
    off = await rule_of(student)
    assert off is not None
    assert off["enabled"] is False


async def test_a_school_with_quiet_hours_mutes_a_student_as_soon_as_they_link(
    tmp_path: Path,
) -> None:
    """The appservice's own clock: a window around now, checked every second."""
    now = datetime.now(UTC)
    window = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    config = school_config(
        tmp_path / "quiet",
        diary=DiaryConfig(port=free_port(), timezone="UTC"),
        safety=SafetyConfig(quiet_hours=window, quiet_check_seconds=1),
    )
    with SchoolStack.for_config(config, with_diary=False) as quiet_school:
        client, store = quiet_school.client(), quiet_school.open_store()
        try:
            school = quiet_school.school_sync(client, store)
            diary = small_school("qz")
            await school.run(diary, SyncOptions())
            await school.link(diary, SourcedId("qz-s2"), None, SyncOptions())
            student = school.puppet_id(SourcedId("qz-s2"))
            path = f"/_matrix/client/v3/pushrules/global/override/{RULE_ID}"
            for _ in range(300):  # the appservice ticks every second; allow it 30 s
                try:
                    rule = await client.request("GET", path, as_user=student)
                    if rule.get("enabled") is True:
                        break
                except MatrixError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the student's quiet-hours rule was never enabled")
        finally:
            store.close()
            await client.aclose()
