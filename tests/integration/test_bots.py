"""The lesson bot against the session's Synapse and diary: one lesson, one message."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from argon2 import PasswordHasher
from playwright.async_api import Page, expect

from appservice.diary_sync.layout import RoomKind, lesson_room, room_key
from appservice.diary_sync.timetable import Timetable
from appservice.school_sync import SchoolSync, SyncOptions
from bots.lesson_posts import MONTHS
from kernel.ids import RoomAlias, RoomID, SourcedId, UserID
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack
from tests.browser import sign_in_at
from tests.metrics import scrape, value
from tests.school import small_school
from web_client.store import DistanceLesson

PREFIX = "bot"
PASSWORD = "пароль-для-тестов-чатов"


def _sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


async def _runs(stack: SchoolStack) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        status = (await http.get(f"http://127.0.0.1:{stack.config.bots.port}/health")).json()
    return int(status["runs"])


async def _two_more_runs(stack: SchoolStack) -> None:
    """Until a whole reconciliation has run after now (bounded, not a sleep)."""
    try:
        start = await _runs(stack)
    except httpx.TransportError:
        start = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if await _runs(stack) >= start + 2:
                return
        except httpx.TransportError:
            pass  # restarting
        await asyncio.sleep(0.1)
    raise AssertionError("the lesson bot did not run")


async def _lesson_events(
    client: MatrixClient, room: RoomID, lesson_id: str
) -> list[dict[str, Any]]:
    found = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/messages?dir=b&limit=50"
    )
    events = [e for e in found.get("chunk", []) if e.get("type") == "m.room.message"]
    originals = [
        e for e in events if e["content"].get("org.parta.lesson", {}).get("lesson_id") == lesson_id
    ]
    ids = {e["event_id"] for e in originals}
    edits = [
        e
        for e in events
        if e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") in ids
    ]
    return originals + edits


async def test_the_lesson_bot_posts_once_across_a_restart_and_follows_moves_and_cancels(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync
) -> None:
    diary = small_school(PREFIX)
    await school.run(diary, SyncOptions())
    zone = ZoneInfo(stack.config.diary.timezone)
    now = datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)
    starts = now + timedelta(hours=3)
    lesson_id = f"{_sid('math')}@{starts.date().isoformat()}"
    store = stack.open_diary_store()
    try:
        store.load(diary, Timetable())
        store.add_distance_lesson(
            DistanceLesson(
                lesson_id,
                _sid("5a-math"),
                starts,
                starts + timedelta(minutes=40),
                "Математика",
                _sid("t4"),
            ),
            now,
        )
        room = await client.resolve_alias(
            RoomAlias(f"#{lesson_room(diary, _sid('5a-math'))}:{stack.config.server_name}")
        )
        assert room is not None
        await _two_more_runs(stack)
        posted = await _lesson_events(client, room, lesson_id)
        assert len(posted) == 1
        body = posted[0]["content"]["body"]
        assert body.startswith(f"Дистанционный урок: Математика {starts.day} ")
        assert f"{starts:%H:%M}–" in body
        assert f"/lesson/{quote(lesson_id)}" in body or f"/lesson/{lesson_id}" in body

        stack.stop_bots()
        stack.start_bots()
        await _two_more_runs(stack)
        assert len(await _lesson_events(client, room, lesson_id)) == 1  # still one message

        later = starts + timedelta(hours=1)
        store.move_distance_lesson(lesson_id, later, later + timedelta(minutes=40))
        await _two_more_runs(stack)
        events = await _lesson_events(client, room, lesson_id)
        edits = [e for e in events if "m.new_content" in e["content"]]
        assert len(edits) == 1
        assert f"{later:%H:%M}–" in edits[0]["content"]["m.new_content"]["body"]
        # the restarted process posted the edit, and says so to the monitoring
        bots = await scrape(stack.config.metrics_urls["bots"])
        assert value(bots, "parta_bots_posts_total", kind="lesson", result="ok") >= 1
        assert value(bots, "parta_bots_runs_total", loop="lessons", result="ok") >= 2

        store.cancel_distance_lesson(lesson_id)
        await _two_more_runs(stack)
        events = await _lesson_events(client, room, lesson_id)
        newest = [
            e["content"]["m.new_content"]["body"] for e in events if "m.new_content" in e["content"]
        ]
        assert any(b.startswith("Отменён: Дистанционный урок: Математика") for b in newest)
        assert len([e for e in events if "m.new_content" not in e["content"]]) == 1
    finally:
        store.close()


async def _bot_messages(client: MatrixClient, room: RoomID, bot: str) -> list[dict[str, Any]]:
    found = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/messages?dir=b&limit=50"
    )
    return [
        e
        for e in found.get("chunk", [])
        if e.get("type") == "m.room.message" and e.get("sender") == bot
    ]


async def test_a_meeting_invitation_lands_in_the_right_parents_room_for_each_kind(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync
) -> None:
    prefix = "mtg"
    diary = small_school(prefix)
    await school.run(diary, SyncOptions(eager=True))
    org = SourcedId(f"{prefix}-org")

    async def room_of(kind: RoomKind, qualifier: str = "") -> RoomID:
        key = room_key(org, kind, qualifier)
        found = await client.resolve_alias(RoomAlias(f"#{key}:{stack.config.server_name}"))
        assert found is not None
        return found

    rooms = {
        "school": await room_of(RoomKind.SCHOOL_PARENTS),
        "grade": await room_of(RoomKind.GRADE_PARENTS, "5"),
        "class": await room_of(RoomKind.CLASS_PARENTS, f"{prefix}-5a"),
    }
    zone = ZoneInfo(stack.config.diary.timezone)
    day = (datetime.now(zone) + timedelta(days=1)).strftime("%d.%m")

    async def say(person: str, room: RoomID, body: str) -> None:
        user = school.puppet_id(SourcedId(f"{prefix}-{person}"))
        path = (
            f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.message/{time.time_ns()}"
        )
        await client.request("PUT", path, {"msgtype": "m.text", "body": body}, as_user=user)

    await say("a1", rooms["school"], f"!собрание {day} 18:00 Итоги четверти")
    await say("a1", rooms["grade"], f"!собрание {day} 19:00 60 Подготовка к экзаменам")
    await say("t1", rooms["class"], f"!собрание {day} 17:30 Поездка в музей")
    await say("p1", rooms["class"], f"!собрание {day} 20:00 Родители решили сами")
    await say("t1", rooms["class"], "!собрание завтра вечером")
    expected = {
        "school": f"Итоги четверти, {_day_words(day)}, 18:00–18:45",
        "grade": f"Подготовка к экзаменам, {_day_words(day)}, 19:00–20:00",
        "class": f"Поездка в музей, {_day_words(day)}, 17:30–18:15",
    }
    deadline = time.monotonic() + 30
    found: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        found = {
            kind: [_text(e) for e in await _bot_messages(client, room, school.bot)]
            for kind, room in rooms.items()
        }
        if all(len(found[k]) >= (3 if k == "class" else 1) for k in rooms):
            break
        await asyncio.sleep(0.2)
    for kind, room in rooms.items():
        invitations = [t for t in found[kind] if t.startswith("Родительское собрание:")]
        assert invitations == [
            f"Родительское собрание: {expected[kind]} — Присоединиться: "
            f"{stack.config.call_bridge_url}/room/{room}"
        ], found[kind]
    refusals = [t for t in found["class"] if not t.startswith("Родительское собрание:")]
    assert any("могут учителя и администрация" in t for t in refusals)  # a parent may not
    assert any(t.startswith("Как назначить собрание") for t in refusals)  # a bad date


def _text(event: dict[str, Any]) -> str:
    return str(event.get("content", {}).get("body", ""))


def _day_words(day: str) -> str:
    d, m = (int(x) for x in day.split("."))
    return f"{d} {MONTHS[m - 1]}"


async def test_an_invite_link_joins_a_user_and_a_revoked_one_does_not(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync, page: Page
) -> None:
    prefix = "inv"
    diary = small_school(prefix)
    await school.run(diary, SyncOptions(eager=True))
    store = stack.open_diary_store()
    try:
        store.load(diary, Timetable())
        for person in ("s1", "s2"):
            pid = SourcedId(f"{prefix}-{person}")
            store.set_password_hash(pid, PasswordHasher().hash(PASSWORD))
            store.set_matrix_user(pid, school.puppet_id(pid))
        login = store.account(SourcedId(f"{prefix}-s1"))
        assert login is not None
    finally:
        store.close()
    klass = await client.resolve_alias(
        RoomAlias(f"#{room_key(SourcedId(f'{prefix}-org'), RoomKind.CLASS, f'{prefix}-5a')}"
                  f":{stack.config.server_name}")
    )  # fmt: skip
    assert klass is not None
    teacher = school.puppet_id(SourcedId(f"{prefix}-t1"))
    await _say(client, teacher, klass, "!чат Кружок робототехники")
    reply = await _wait_for_bot(client, klass, school.bot, "Чат «Кружок робототехники» создан")
    link = reply.rsplit(" ", 1)[-1]
    assert link.startswith(f"{stack.config.diary_url}/join/")
    qr = await _wait_for_bot(client, klass, school.bot, "QR-код для вступления в чат")
    assert qr == "QR-код для вступления в чат «Кружок робототехники»"
    images = [e for e in await _bot_messages(client, klass, school.bot)
              if e["content"].get("msgtype") == "m.image"]  # fmt: skip
    assert images[0]["content"]["url"].startswith("mxc://")  # the QR code, uploaded

    await sign_in_at(page, stack.config.diary_url, login.login, PASSWORD)
    await page.goto(link)
    await expect(page.get_by_role("heading")).to_contain_text("Кружок робототехники")
    await page.get_by_role("button", name="Вступить в чат").click()
    await expect(page.get_by_test_id("joined")).to_be_visible()
    student = school.puppet_id(SourcedId(f"{prefix}-s1"))
    token = link.rsplit("/", 1)[-1]
    async with httpx.AsyncClient(timeout=15) as http:
        info = await http.get(
            f"{stack.config.bots_url}/_parta/v1/invites/{token}",
            headers={
                "Authorization": f"Bearer {stack.config.invite_token_file.read_text().strip()}"
            },
        )
    assert info.json()["name"] == "Кружок робототехники"
    rooms = await client.request("GET", "/_matrix/client/v3/joined_rooms", as_user=student)
    names = {r: await _name(client, r) for r in rooms["joined_rooms"]}
    chat = next(r for r, name in names.items() if name == "Кружок робототехники")
    await _say(client, teacher, chat, "!отозвать")
    await _wait_for_bot(client, chat, school.bot, "Ссылки на этот чат отозваны: 1")
    other = school.puppet_id(SourcedId(f"{prefix}-s2"))
    async with httpx.AsyncClient(timeout=15) as http:
        refused = await http.post(
            f"{stack.config.bots_url}/_parta/v1/invites/{token}/join",
            json={"user_id": other},
            headers={
                "Authorization": f"Bearer {stack.config.invite_token_file.read_text().strip()}"
            },
        )
    assert refused.status_code == 410
    assert "отозвана" in refused.json()["reason"]
    members = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(chat, safe='')}/joined_members"
    )
    assert student in members["joined"]
    assert other not in members["joined"]


async def test_a_link_for_parents_or_for_the_class_lets_only_them_in(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync
) -> None:
    prefix = "aud"
    diary = small_school(prefix)
    await school.run(diary, SyncOptions(eager=True))
    klass = await client.resolve_alias(
        RoomAlias(f"#{room_key(SourcedId(f'{prefix}-org'), RoomKind.CLASS, f'{prefix}-5a')}"
                  f":{stack.config.server_name}")
    )  # fmt: skip
    assert klass is not None
    teacher = school.puppet_id(SourcedId(f"{prefix}-t1"))

    def who(local: str) -> str:
        return school.puppet_id(SourcedId(f"{prefix}-{local}"))

    async def link_for(command: str, name: str) -> str:
        await _say(client, teacher, klass, command)
        reply = await _wait_for_bot(client, klass, school.bot, f"Чат «{name}» создан")
        return reply.rsplit("/", 1)[-1]

    async def join(token: str, user: str, role: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(
                f"{stack.config.bots_url}/_parta/v1/invites/{token}/join",
                json={"user_id": user, "role": role},
                headers={
                    "Authorization": f"Bearer {stack.config.invite_token_file.read_text().strip()}"
                },
            )

    parents = await link_for("!чат Совет родителей для родителей", "Совет родителей")
    student = await join(parents, who("s1"), "student")
    assert student.status_code == 403
    assert student.json()["reason"] == "Эта ссылка — для родителей"
    assert (await join(parents, who("p1"), "parent")).status_code == 200

    class_only = await link_for("!чат Экскурсия для класса", "Экскурсия")
    other_class = await join(class_only, who("s4"), "student")  # 5Б
    assert other_class.status_code == 403
    assert "для участников чата" in other_class.json()["reason"]
    joined = await join(class_only, who("s2"), "student")
    assert joined.status_code == 200, joined.text
    members = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(joined.json()['room_id'], safe='')}/joined_members"
    )
    assert who("s2") in members["joined"]
    assert who("s4") not in members["joined"]


async def _name(client: MatrixClient, room: str) -> str:
    state = await client.state_event_or_empty(RoomID(room), "m.room.name")
    return str(state.get("name", ""))


async def _say(client: MatrixClient, user: str, room: str, body: str) -> None:
    path = f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.message/{time.time_ns()}"
    await client.request("PUT", path, {"msgtype": "m.text", "body": body}, as_user=UserID(user))


async def _wait_for_bot(client: MatrixClient, room: str, bot: str, start: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for event in await _bot_messages(client, RoomID(room), bot):
            if _text(event).startswith(start):
                return _text(event)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the bot did not say {start!r}")


async def test_a_homework_file_is_recorded_for_the_right_student(
    stack: SchoolStack, client: MatrixClient, school: SchoolSync
) -> None:
    prefix = "hw"
    diary = small_school(prefix)
    await school.run(diary, SyncOptions(eager=True))
    klass = await client.resolve_alias(
        RoomAlias(f"#{room_key(SourcedId(f'{prefix}-org'), RoomKind.CLASS, f'{prefix}-5a')}"
                  f":{stack.config.server_name}")
    )  # fmt: skip
    assert klass is not None
    teacher = school.puppet_id(SourcedId(f"{prefix}-t1"))
    await _say(client, teacher, klass, "!дз Упражнение 5 на с. 34")
    await _wait_for_bot(client, klass, school.bot, "Домашнее задание: Упражнение 5 на с. 34")
    task = next(
        e["event_id"]
        for e in await _bot_messages(client, klass, school.bot)
        if _text(e).startswith("Домашнее задание: Упражнение 5")
    )
    student = school.puppet_id(SourcedId(f"{prefix}-s1"))
    token = stack.config.as_token_file.read_text().strip()
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url, timeout=30) as http:
        uploaded = await http.post(
            "/_matrix/media/v3/upload",
            params={"user_id": student, "filename": "упр5.jpg"},
            content=b"\xff\xd8\xff\xe0 homework photo",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
        )
    assert uploaded.status_code == 200, uploaded.text
    reply = {"m.in_reply_to": {"event_id": task}}
    path = f"/_matrix/client/v3/rooms/{quote(klass, safe='')}/send/m.room.message/{time.time_ns()}"
    await client.request(
        "PUT",
        path,
        {"msgtype": "m.image", "body": "упр5.jpg", "url": uploaded.json()["content_uri"],
         "m.relates_to": reply},
        as_user=student,
    )  # fmt: skip
    other = school.puppet_id(SourcedId(f"{prefix}-s2"))
    await client.request(  # words, not a file: not handed in
        "PUT",
        f"{path}-2",
        {"msgtype": "m.text", "body": "Я забыл тетрадь", "m.relates_to": reply},
        as_user=other,
    )
    await _say(client, teacher, klass, "!сдали")
    listing = await _wait_for_bot(client, klass, school.bot, "Домашнее задание: Упражнение 5")
    deadline = time.monotonic() + 30
    while "Сдали (1)" not in listing and time.monotonic() < deadline:
        texts = [_text(e) for e in await _bot_messages(client, klass, school.bot)]
        listing = next((t for t in texts if "Сдали (" in t), listing)
        await asyncio.sleep(0.2)
    names = {p.id: p.display_name for p in diary.people.values()}
    assert f"Сдали (1): {names[SourcedId(f'{prefix}-s1')]}" in listing
    assert "Не сдали (2)" in listing
    diary_token = stack.config.invite_token_file.read_text().strip()
    async with httpx.AsyncClient(timeout=15) as http:
        seen = await http.get(
            f"{stack.config.bots_url}/_parta/v1/homework",
            params={"room": klass},
            headers={"Authorization": f"Bearer {diary_token}"},
        )
    (given,) = seen.json()["homework"]
    assert [(h["student"], h["file"]) for h in given["handed_in"]] == [(student, "упр5.jpg")]
