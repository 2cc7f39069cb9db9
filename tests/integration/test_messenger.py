"""The messenger inside the diary's «Чаты» tab, in Debian's Chromium, against the real Synapse.

Each test signs a person in to the diary; the page signs in to Matrix through Synapse's
single sign-on (the diary is its OpenID provider) and works with matrix-js-sdk. What the
page does is read back by a second client — matrix-nio, as another person or as the same
account on another device — never from the page itself.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import av
import httpx
import nio
import pytest
from playwright.async_api import Browser, Page, expect

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.diary_sync.model import Diary, EnrollmentRole
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.contracts.bots import BotsApi
from kernel.ids import RoomAlias, RoomID, SourcedId, UserID
from kernel.matrix import MatrixClient
from parta.bench.call_peer import CallPeer, mint_openid, place
from parta.stack import SchoolStack
from tests.browser import SCREENSHOTS, accessibility_problems, sign_in_at
from tests.integration.conftest import nio_client
from tests.integration.diary_site import serve_school
from tests.school import small_school

pytestmark = pytest.mark.integration
PREFIX = "msg"
PASSWORD = "пароль-мессенджера"
CLASS_CHAT = "5А — класс"


def sid(local: str) -> SourcedId:
    return SourcedId(f"{PREFIX}-{local}")


@dataclass(frozen=True)
class Site:
    stack: SchoolStack
    school: SchoolSync
    diary: Diary
    logins: dict[str, str]

    @property
    def url(self) -> str:
        return self.stack.config.diary_url

    @property
    def hs(self) -> str:
        return self.stack.config.homeserver_url

    def user(self, local: str) -> UserID:
        return self.school.puppet_id(sid(local))


@pytest.fixture(scope="module")
async def site(stack: SchoolStack, school: SchoolSync) -> Site:
    diary = small_school(PREFIX)
    await serve_school(stack, school, diary, PASSWORD)
    logins: dict[str, str] = {}
    store = stack.open_diary_store()
    try:
        for local in ("s1", "s2", "s3", "t1", "t4", "p1", "a1"):
            await school.link(diary, sid(local), None, SyncOptions())
            store.set_matrix_user(sid(local), school.puppet_id(sid(local)))
            account = store.account(sid(local))
            assert account is not None
            logins[local] = account.login
    finally:
        store.close()
    return Site(stack, school, diary, logins)


async def class_room(site: Site, client: MatrixClient) -> RoomID:
    key = room_key(sid("org"), RoomKind.CLASS, f"{PREFIX}-5a")
    found = await client.resolve_alias(RoomAlias(f"#{key}:{site.stack.config.server_name}"))
    assert found is not None
    return found


async def messenger(page: Page, site: Site, who: str) -> None:
    """Sign in to the diary, open «Чаты», and wait until the messenger has synced."""
    said: list[str] = []
    page.on("console", lambda m: said.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: said.append(f"error: {e}"))
    await sign_in_at(page, site.url, site.logins[who], PASSWORD)
    await page.get_by_role("navigation").get_by_role("link", name="Чаты", exact=True).click()
    try:
        await expect(page.get_by_test_id("messenger")).to_have_attribute(
            "data-ready", "1", timeout=30_000
        )
    except AssertionError as e:
        raise AssertionError(f"{e}\nthe page said:\n" + "\n".join(said)) from None


def chat_item(page: Page, name: str) -> Any:
    return page.locator(".m-chat-item", has=page.locator(".m-chat-name", has_text=name)).first


async def open_chat(page: Page, name: str) -> None:
    await chat_item(page, name).click()
    await expect(page.get_by_test_id("chat-title")).to_have_text(name)


@pytest.fixture
async def nio_as(site: Site) -> AsyncIterator[Any]:
    """matrix-nio clients for school accounts, each a new device of that account."""
    opened: list[nio.AsyncClient] = []

    async def login(local: str) -> nio.AsyncClient:
        client = await nio_client(site.stack, site.user(local))
        opened.append(client)
        return client

    yield login
    for client in opened:
        await client.close()


async def messages_in(client: nio.AsyncClient, room: str, limit: int = 50) -> list[dict[str, Any]]:
    answer = await client.room_messages(room, limit=limit)
    assert isinstance(answer, nio.RoomMessagesResponse), answer
    return [e.source for e in answer.chunk]


async def wait_for(client: nio.AsyncClient, room: str, match: Any, what: str) -> dict[str, Any]:
    """Sync until an event in ``room`` satisfies ``match`` (Synapse's long poll, no sleeps)."""
    for event in await messages_in(client, room):
        if match(event):
            return event
    for _ in range(20):
        answer = await client.sync(timeout=3000, full_state=False)
        assert isinstance(answer, nio.SyncResponse), answer
        joined = answer.rooms.join.get(room)
        for event in joined.timeline.events if joined else []:
            if match(event.source):
                return dict(event.source)
    raise AssertionError(f"no {what} in {room}")


def png(width: int, height: int) -> bytes:
    """A real PNG (a blue-to-green gradient) the browser can decode and Synapse can thumbnail."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((0, (255 * x) // width, 200)) for x in range(width))
        for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def webm(frames: int = 10) -> bytes:
    """A real one-second VP8 video (grey frames getting lighter), encoded by PyAV."""
    out_file = io.BytesIO()
    with av.open(out_file, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=frames)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 20]) * plane.buffer_size)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return out_file.getvalue()


async def media_bytes(site: Site, client: nio.AsyncClient, mxc: str) -> bytes:
    server, media = mxc.removeprefix("mxc://").split("/", 1)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{site.hs}/_matrix/client/v1/media/download/{server}/{media}",
            headers={"Authorization": f"Bearer {client.access_token}"},
        )
    assert answer.status_code == 200, answer.text
    return answer.content


async def test_a_student_sends_a_message_a_photo_and_a_file_a_classmate_reads_them(
    site: Site, page: Page, client: MatrixClient, nio_as: Any, tmp_path: Path
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "s1")
    group = page.get_by_test_id(f"group-{await space_of(site, client)}")
    await expect(group).to_contain_text(CLASS_CHAT)  # chats under the school's space
    await page.screenshot(path=SCREENSHOTS / "messenger-list.png")
    await open_chat(page, CLASS_CHAT)
    await page.get_by_label("Сообщение").fill("Я сделал домашнее задание")
    await page.get_by_label("Сообщение").press("Enter")
    await expect(page.get_by_test_id("timeline")).to_contain_text("Я сделал домашнее задание")
    photo = tmp_path / "домашка.png"
    photo.write_bytes(png(320, 200))
    notes = tmp_path / "конспект.txt"
    notes.write_text("Конспект урока: дроби\n", encoding="utf-8")
    film = tmp_path / "опыт.webm"
    film.write_bytes(webm())
    await page.locator("#m-file").set_input_files([str(photo), str(notes), str(film)])
    preview = page.get_by_test_id("image-preview").last
    await expect(preview).to_have_attribute("src", re.compile("^blob:"), timeout=20_000)
    assert await preview.evaluate("img => img.complete && img.naturalWidth > 0")
    video = page.get_by_test_id("video").last
    await expect(video).to_have_attribute("src", re.compile("^blob:"), timeout=20_000)
    await video.evaluate(
        "v => v.readyState >= 1 || new Promise(ok => v.addEventListener('loadedmetadata', ok))"
    )
    assert await video.evaluate("v => v.videoWidth") == 160
    await expect(page.get_by_test_id("file").last).to_contain_text("конспект.txt")
    await page.screenshot(path=SCREENSHOTS / "messenger-chat.png")

    classmate = await nio_as("s2")
    text = await wait_for(
        classmate, room, lambda e: e["content"].get("body") == "Я сделал домашнее задание", "text"
    )
    image = await wait_for(
        classmate, room, lambda e: e["content"].get("msgtype") == "m.image", "photo"
    )
    file = await wait_for(
        classmate, room, lambda e: e["content"].get("msgtype") == "m.file", "file"
    )
    clip = await wait_for(
        classmate, room, lambda e: e["content"].get("msgtype") == "m.video", "video"
    )
    assert clip["content"]["info"]["mimetype"] == "video/webm"
    assert await media_bytes(site, classmate, clip["content"]["url"]) == film.read_bytes()
    assert text["sender"] == site.user("s1")
    assert image["content"]["body"] == "домашка.png"
    assert image["content"]["info"]["w"] == 320
    assert await media_bytes(site, classmate, image["content"]["url"]) == photo.read_bytes()
    assert await media_bytes(site, classmate, file["content"]["url"]) == notes.read_bytes()


async def space_of(site: Site, client: MatrixClient) -> RoomID:
    key = room_key(sid("org"), RoomKind.SPACE)
    found = await client.resolve_alias(RoomAlias(f"#{key}:{site.stack.config.server_name}"))
    assert found is not None
    return found


async def test_a_poll_made_in_the_page_is_voted_from_nio_and_the_page_shows_it(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "t1")
    await open_chat(page, CLASS_CHAT)
    await page.get_by_role("button", name="Опрос", exact=True).click()
    await page.get_by_label("Вопрос").fill("Когда пишем контрольную?")
    await page.get_by_label("Вариант 1").fill("Во вторник")
    await page.get_by_label("Вариант 2").fill("В четверг")
    await page.get_by_role("button", name="Создать").click()
    poll = page.get_by_test_id("poll").filter(has_text="Когда пишем контрольную?")
    await expect(poll).to_be_visible()

    student = await nio_as("s2")
    start = await wait_for(
        student, room, lambda e: e["type"] == "org.matrix.msc3381.poll.start", "poll"
    )
    answers = start["content"]["org.matrix.msc3381.poll.start"]["answers"]
    thursday = next(a["id"] for a in answers if a["org.matrix.msc1767.text"] == "В четверг")
    sent = await student.room_send(
        room,
        "org.matrix.msc3381.poll.response",
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": start["event_id"]},
            "org.matrix.msc3381.poll.response": {"answers": [thursday]},
        },
    )
    assert isinstance(sent, nio.RoomSendResponse), sent
    votes = poll.get_by_role("button", name=re.compile("В четверг"))
    await expect(votes.get_by_test_id("votes")).to_have_text("1 голос")
    tuesday = poll.get_by_role("button", name=re.compile("Во вторник"))
    await expect(tuesday.get_by_test_id("votes")).to_have_text("0 голосов")
    await tuesday.click()  # the teacher votes in the page; the student's client sees it
    await expect(tuesday).to_have_attribute("aria-pressed", "true")
    vote = await wait_for(
        student,
        room,
        lambda e: (
            e["type"] == "org.matrix.msc3381.poll.response" and e["sender"] == site.user("t1")
        ),
        "the teacher's vote",
    )
    chosen = vote["content"]["org.matrix.msc3381.poll.response"]["answers"]
    assert [a["org.matrix.msc1767.text"] for a in answers if a["id"] in chosen] == ["Во вторник"]
    assert vote["content"]["m.relates_to"]["event_id"] == start["event_id"]


async def test_a_sixth_pinned_chat_is_refused_with_a_message(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    teacher, me = site.user("t4"), site.user("s3")
    for n in range(6):
        made = await client.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"name": f"Кружок {n + 1}", "invite": [me], "preset": "private_chat"},
            as_user=teacher,
        )
        await client.request(
            "POST", f"/_matrix/client/v3/join/{quote(made['room_id'], safe='')}", {}, as_user=me
        )
    await messenger(page, site, "s3")
    for n in range(5):
        await open_chat(page, f"Кружок {n + 1}")
        await page.get_by_role("button", name="Закрепить", exact=True).click()
        await expect(page.get_by_role("button", name="Открепить", exact=True)).to_be_visible()
    await expect(page.get_by_test_id("group-pinned").locator(".m-chat-item")).to_have_count(5)
    await open_chat(page, "Кружок 6")
    await page.get_by_role("button", name="Закрепить", exact=True).click()
    await expect(page.get_by_test_id("messenger-alert")).to_have_text(
        "Можно закрепить не больше пяти чатов"
    )
    other = await nio_as("s3")
    async with httpx.AsyncClient(timeout=30) as http:
        joined = (
            await http.get(
                f"{site.hs}/_matrix/client/v3/joined_rooms",
                headers={"Authorization": f"Bearer {other.access_token}"},
            )
        ).json()["joined_rooms"]
        pinned = 0
        for room in joined:
            tags = await http.get(
                f"{site.hs}/_matrix/client/v3/user/{quote(me)}/rooms/{quote(room)}/tags",
                headers={"Authorization": f"Bearer {other.access_token}"},
            )
            pinned += "m.favourite" in tags.json()["tags"]
    assert pinned == 5


async def test_a_muted_chat_is_muted_for_the_same_account_in_nio(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "s2")
    await open_chat(page, CLASS_CHAT)
    await page.get_by_role("button", name="Без звука", exact=True).click()
    await expect(page.get_by_role("button", name="Включить звук", exact=True)).to_be_visible()
    same_account = await nio_as("s2")
    synced = await same_account.sync(timeout=0, full_state=True)
    assert isinstance(synced, nio.SyncResponse), synced
    rules = [e for e in synced.account_data_events if isinstance(e, nio.PushRulesEvent)]
    assert rules, "no push rules in the account data"
    mute = [r for r in rules[0].global_rules.override if r.id == room]
    assert len(mute) == 1
    assert mute[0].actions == []
    assert mute[0].conditions[0].pattern == room


async def test_a_chat_in_a_folder_stays_there_after_a_reload_and_in_account_data(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "p1")
    await page.get_by_role("button", name="+ Новая папка").click()
    await page.get_by_label("Название папки").fill("Учёба сына")
    await page.get_by_role("button", name="Создать").click()
    await expect(page.get_by_role("button", name="Учёба сына")).to_be_visible()
    await open_chat(page, "5А — родители")
    await page.get_by_label("Папка", exact=True).select_option(label="Учёба сына")
    await expect(page.get_by_test_id("messenger").get_by_role("status")).to_have_text(
        "Добавить в папку"
    )
    await page.reload()
    await expect(page.get_by_test_id("messenger")).to_have_attribute(
        "data-ready", "1", timeout=30_000
    )
    await page.get_by_role("button", name="Учёба сына").click()
    groups = page.get_by_test_id("chat-groups")
    await expect(groups.locator(".m-chat-item")).to_have_count(1)
    await expect(groups).to_contain_text("5А — родители")

    other = await nio_as("p1")
    async with httpx.AsyncClient(timeout=30) as http:
        data = await http.get(
            f"{site.hs}/_matrix/client/v3/user/{quote(site.user('p1'))}"
            "/account_data/org.parta.chat_folders",
            headers={"Authorization": f"Bearer {other.access_token}"},
        )
    folders = data.json()["folders"]
    assert [f["name"] for f in folders] == ["Учёба сына"]
    parents = await client.resolve_alias(
        RoomAlias(
            f"#{room_key(sid('org'), RoomKind.CLASS_PARENTS, f'{PREFIX}-5a')}"
            f":{site.stack.config.server_name}"
        )
    )
    assert folders[0]["rooms"] == [parents]
    assert room not in folders[0]["rooms"]


async def test_a_forwarded_message_arrives_in_the_target_chat(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    teacher = site.user("t1")
    await client.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.message/fwd-1",
        {"msgtype": "m.text", "body": "Экскурсия в музей в субботу"},
        as_user=teacher,
    )
    await messenger(page, site, "p1")  # the parent is not in the class chat
    await open_chat(page, "5А — родители")
    await messenger_send(page, "Напоминаю про собрание")
    # once the server has it: the message is drawn anew when its local id becomes the server's
    item = page.locator('.m-msg[data-event-id^="$"]', has_text="Напоминаю про собрание")
    await item.get_by_role("button", name="Переслать").click()
    await (
        page.get_by_role("dialog")
        .get_by_role("button", name=re.compile("Родители — вся школа"))
        .click()
    )
    await expect(page.get_by_test_id("messenger").get_by_role("status")).to_contain_text(
        "Переслано"
    )
    target = await client.resolve_alias(
        RoomAlias(
            f"#{room_key(sid('org'), RoomKind.SCHOOL_PARENTS)}:{site.stack.config.server_name}"
        )
    )
    assert target is not None
    reader = await nio_as("a1")
    event = await wait_for(
        reader, target, lambda e: e["content"].get("body") == "Напоминаю про собрание", "forward"
    )
    assert event["sender"] == site.user("p1")
    assert "m.relates_to" not in event["content"]


async def messenger_send(page: Page, text: str) -> None:
    await page.get_by_label("Сообщение").fill(text)
    await page.get_by_role("button", name="Отправить").click()
    await expect(page.get_by_test_id("timeline")).to_contain_text(text)


async def test_joining_by_an_invite_link_lands_in_the_chat(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    teacher = await nio_as("t1")
    said = await teacher.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "!чат Шахматный клуб"}
    )
    assert isinstance(said, nio.RoomSendResponse), said
    bot = site.school.bot
    answer = await wait_for(
        teacher,
        room,
        lambda e: e["sender"] == bot and "/join/" in e["content"].get("body", ""),
        "invite link from the bot",
    )
    link = answer["content"]["body"].rsplit(" ", 1)[-1]
    profile = await teacher.get_displayname(bot)
    assert getattr(profile, "displayname", None) == "Школьный бот"  # not a bare user id
    await messenger(page, site, "s2")
    await page.goto(link)
    await page.get_by_role("button", name="Вступить в чат").click()
    await page.get_by_test_id("open-chat").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Шахматный клуб", timeout=30_000)
    await messenger_send(page, "Привет, шахматисты!")


async def test_contacts_follow_the_school_rules_and_a_personal_chat_reaches_the_teacher(
    site: Site, page: Page, nio_as: Any
) -> None:
    await messenger(page, site, "s1")
    await page.get_by_role("button", name="Контакты").click()
    contacts = page.get_by_test_id("contacts")
    await expect(contacts).to_contain_text("Учитель-t1 Анна")
    await expect(contacts).to_contain_text("Ученик1 Иван")  # a classmate
    await expect(contacts).to_contain_text("Родитель-p1 Мария")  # their own parent
    await expect(contacts).not_to_contain_text("Родитель-p2")  # somebody else's parent
    await expect(contacts).not_to_contain_text("Ученик3")  # another class
    await contacts.locator("li", has_text="Учитель-t1 Анна").get_by_role("button").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Учитель-t1 Анна", timeout=30_000)
    await messenger_send(page, "Можно вопрос по задаче?")
    teacher = await nio_as("t1")
    synced = await teacher.sync(timeout=0, full_state=True)
    assert isinstance(synced, nio.SyncResponse)
    invited = list(synced.rooms.invite)
    assert invited, "the teacher has no invitation to a personal chat"
    joined = await teacher.join(invited[0])
    assert isinstance(joined, nio.JoinResponse), joined
    event = await wait_for(
        teacher, invited[0], lambda e: e["content"].get("body") == "Можно вопрос по задаче?", "dm"
    )
    assert event["sender"] == site.user("s1")


async def test_new_messages_typing_replies_and_unread_marks_arrive_without_reloading(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "s3")
    await open_chat(page, CLASS_CHAT)  # everything there read
    await open_chat(page, "Объявления")
    await expect(chat_item(page, CLASS_CHAT).get_by_test_id("unread")).to_have_count(0)
    teacher = await nio_as("t4")
    sent = await teacher.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "Завтра контрольная"}
    )
    assert isinstance(sent, nio.RoomSendResponse), sent
    await expect(chat_item(page, CLASS_CHAT).get_by_test_id("unread")).to_have_text("1")
    space = page.get_by_test_id(f"group-{await space_of(site, client)}")
    await expect(space.get_by_test_id("space-unread")).to_have_text("1")  # per space too
    await open_chat(page, CLASS_CHAT)
    await expect(chat_item(page, CLASS_CHAT).get_by_test_id("unread")).to_have_count(0)
    typing = await teacher.room_typing(room, True, 20_000)
    assert isinstance(typing, nio.RoomTypingResponse), typing
    await expect(page.get_by_test_id("typing")).to_contain_text("печатает")
    item = page.get_by_test_id("timeline").locator(".m-msg", has_text="Завтра контрольная")
    await item.get_by_role("button", name="Ответить").click()
    await messenger_send(page, "А какая тема?")
    reply = await wait_for(
        teacher, room, lambda e: e["content"].get("body", "").endswith("А какая тема?"), "reply"
    )
    assert reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == sent.event_id
    await expect(page.get_by_test_id("read")).to_have_count(0)
    read = await teacher.room_read_markers(room, reply["event_id"], reply["event_id"])
    assert isinstance(read, nio.RoomReadMarkersResponse), read
    await expect(page.get_by_test_id("read")).to_have_text("✓ Прочитано")
    await page.get_by_role("button", name="Отметить непрочитанным").click()
    await expect(chat_item(page, CLASS_CHAT).get_by_test_id("marked-unread")).to_be_visible()
    async with httpx.AsyncClient(timeout=30) as http:
        marked = await http.get(
            f"{site.hs}/_matrix/client/v3/user/{quote(site.user('s3'))}/rooms/"
            f"{quote(room)}/account_data/m.marked_unread",
            headers={"Authorization": f"Bearer {(await nio_as('s3')).access_token}"},
        )
    assert marked.json() == {"unread": True}


async def classmate_asks(
    site: Site, client: MatrixClient, nio_as: Any, body: str
) -> tuple[RoomID, nio.AsyncClient, str]:
    """A pupil (s1) writes in the class chat: the room, the pupil's client, and the event."""
    room = await class_room(site, client)
    classmate = await nio_as("s1")
    said = await classmate.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body})
    assert isinstance(said, nio.RoomSendResponse), said
    return room, classmate, said.event_id


async def hold_down(page: Page, target: Any) -> None:
    """The mouse pressed on the middle of `target`, and not yet let go."""
    box = await target.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()


async def starts_typing(page: Page, who: nio.AsyncClient, room: str) -> None:
    """`who` starts typing in the open chat, and the page shows it: the page has redrawn since.
    (Others may still be typing there from an earlier test; `who` stops first.)"""
    name = await who.get_displayname(who.user_id)
    assert isinstance(name, nio.ProfileGetDisplayNameResponse), name
    assert name.displayname, name
    stopped = await who.room_typing(room, False)
    assert isinstance(stopped, nio.RoomTypingResponse), stopped
    await expect(page.get_by_test_id("typing")).not_to_contain_text(name.displayname)
    typing = await who.room_typing(room, True, 20_000)
    assert isinstance(typing, nio.RoomTypingResponse), typing
    await expect(page.get_by_test_id("typing")).to_contain_text(name.displayname)


async def test_a_press_and_the_focus_survive_the_chat_redrawing_under_them(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    """The chat redraws whenever something arrives (a message, a receipt, someone typing). A
    button held down at that moment still answers when let go, and a keyboard user's focus
    stays on it. (CI once lost a «Ответить» pressed during such a redraw.)"""
    room, classmate, said = await classmate_asks(site, client, nio_as, "Кто дежурит в пятницу?")
    await messenger(page, site, "t1")
    await open_chat(page, CLASS_CHAT)
    answer = page.locator(f'[data-event-id="{said}"]').get_by_role("button", name="Ответить")
    await answer.focus()
    more = await classmate.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "И кто моет доску?"}
    )
    assert isinstance(more, nio.RoomSendResponse), more
    await expect(page.locator(f'[data-event-id="{more.event_id}"]')).to_be_visible()
    await expect(answer).to_be_focused()
    await hold_down(page, answer)
    await starts_typing(page, classmate, room)  # the chat redraws meanwhile
    await page.mouse.up()
    await expect(page.locator(".m-reply")).to_contain_text("Кто дежурит в пятницу?")


async def test_a_press_on_another_chat_survives_the_list_redrawing(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    """The chat list redraws on everything that arrives; a chat pressed at that moment opens."""
    room = await class_room(site, client)
    classmate = await nio_as("s1")
    await messenger(page, site, "t1")
    await open_chat(page, CLASS_CHAT)
    other = page.locator(".m-chat-item:not(.current)").first
    chosen = await other.get_attribute("data-room-id")
    await hold_down(page, other)
    await starts_typing(page, classmate, room)  # the list redraws meanwhile
    await page.mouse.up()
    opened = page.locator(f'.m-chat-item[data-room-id="{chosen}"]')
    await expect(opened).to_have_attribute("aria-current", "true")


async def test_on_a_phone_the_list_and_the_chat_take_turns(
    site: Site, browser: Browser, client: MatrixClient
) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 780}, locale="ru-RU", is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    try:
        await messenger(page, site, "t1")
        await expect(page.locator(".m-list")).to_be_visible()
        await expect(page.locator(".m-chat")).to_be_hidden()
        assert await wider_than_the_screen(page) == 0
        await open_chat(page, CLASS_CHAT)
        await expect(page.locator(".m-list")).to_be_hidden()
        # the header is one line of buttons under the name: the rest folds under «Ещё»
        head = await page.locator(".m-chat-head").bounding_box()
        assert head is not None
        assert head["height"] < 0.15 * 780, head
        pin = page.get_by_role("button", name="Закрепить")
        await expect(pin).to_be_hidden()
        for name in ("Позвонить", "Учителю", "Ещё"):
            await expect(page.get_by_text(name, exact=True)).to_be_in_viewport()
        assert await wider_than_the_screen(page) == 0
        await page.screenshot(path=SCREENSHOTS / "messenger-phone.png")
        more = page.get_by_role("button", name="Ещё")
        await more.click()
        await expect(more).to_have_attribute("aria-expanded", "true")
        await expect(pin).to_be_visible()
        assert await wider_than_the_screen(page) == 0
        await page.get_by_role("button", name="Учителю").click()
        await expect(page.get_by_role("dialog")).to_be_in_viewport()
        assert await wider_than_the_screen(page) == 0
        await page.get_by_role("dialog").get_by_role("button", name="Собрание").click()
        await expect(page.get_by_role("dialog").get_by_label("Тема")).to_be_in_viewport()
        assert await wider_than_the_screen(page) == 0
        await page.get_by_role("dialog").get_by_role("button", name="Закрыть").click()
        await page.get_by_role("button", name="← К списку чатов").click()
        await expect(page.locator(".m-list")).to_be_visible()
    finally:
        await context.close()


async def wider_than_the_screen(page: Page) -> int:
    extra: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return extra


async def test_notification_settings_for_group_and_personal_chats_are_push_rules(
    site: Site, page: Page, nio_as: Any
) -> None:
    await messenger(page, site, "a1")
    await page.get_by_role("button", name="Уведомления").click()
    await page.get_by_label("Уведомлять о сообщениях в групповых чатах").uncheck()
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.get_by_role("dialog")).to_be_hidden()
    same_account = await nio_as("a1")
    synced = await same_account.sync(timeout=0, full_state=True)
    assert isinstance(synced, nio.SyncResponse)
    rules = next(e for e in synced.account_data_events if isinstance(e, nio.PushRulesEvent))
    enabled = {r.id: r.enabled for r in rules.global_rules.underride}
    assert enabled[".m.rule.message"] is False
    assert enabled[".m.rule.room_one_to_one"] is True


async def test_support_is_a_personal_chat_with_the_school_and_works_from_the_keyboard(
    site: Site, page: Page, nio_as: Any
) -> None:
    await messenger(page, site, "s2")
    await chat_item(page, CLASS_CHAT).focus()
    await page.keyboard.press("Enter")  # a chat opens from the keyboard, the cursor in the box
    await expect(page.get_by_test_id("chat-title")).to_have_text(CLASS_CHAT)
    await expect(page.get_by_label("Сообщение")).to_be_focused()
    await page.get_by_role("button", name="Поддержка").click()
    dialog = page.get_by_role("dialog", name="Поддержка")
    await expect(dialog).to_contain_text("напишите в поддержку школы")
    await expect(dialog).not_to_contain_text("null")  # no e-mail or phone set: nothing shown
    await dialog.get_by_role("button", name="Написать: Директорова Ольга").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text(
        "Директорова Ольга", timeout=30_000
    )
    await expect(page.get_by_label("Сообщение")).to_be_focused()
    await page.keyboard.type("Не открывается домашнее задание")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("timeline")).to_contain_text("Не открывается")
    support = await nio_as("a1")
    synced = await support.sync(timeout=0, full_state=True)
    assert isinstance(synced, nio.SyncResponse)
    invited = [r for r, room in synced.rooms.invite.items()]
    assert len(invited) == 1, invited
    joined = await support.join(invited[0])
    assert isinstance(joined, nio.JoinResponse), joined
    event = await wait_for(
        support,
        invited[0],
        lambda e: e["content"].get("body") == "Не открывается домашнее задание",
        "question to support",
    )
    assert event["sender"] == site.user("s2")


async def test_the_administrations_support_is_the_regions_operator_not_herself(
    site: Site, page: Page
) -> None:
    await messenger(page, site, "a1")
    await page.get_by_role("button", name="Поддержка").click()
    dialog = page.get_by_role("dialog", name="Поддержка")
    await expect(dialog).to_contain_text("Вы — поддержка школы")
    await expect(dialog).to_contain_text("оператора региона не указаны")
    await expect(dialog.get_by_role("button", name=re.compile("^Написать"))).to_have_count(0)
    await expect(dialog).not_to_contain_text("null")


async def test_signing_out_of_the_diary_ends_the_messengers_matrix_session(
    site: Site, page: Page
) -> None:
    await messenger(page, site, "t4")
    key = f"parta.matrix.{site.user('t4')}"
    stored = await page.evaluate("key => JSON.parse(localStorage.getItem(key))", key)
    token = stored["accessToken"]
    async with httpx.AsyncClient(timeout=30) as http:
        auth = {"Authorization": f"Bearer {token}"}
        before = await http.get(f"{site.hs}/_matrix/client/v3/account/whoami", headers=auth)
        assert before.status_code == 200
        await page.get_by_role("button", name="Выход").click()
        await expect(page.get_by_role("heading", name="Вход в систему")).to_be_visible()
        after = await http.get(f"{site.hs}/_matrix/client/v3/account/whoami", headers=auth)
    assert after.status_code == 401  # a shared school computer keeps no working token
    assert after.json()["errcode"] == "M_UNKNOWN_TOKEN"
    assert await page.evaluate("key => localStorage.getItem(key)", key) is None


async def test_a_teachers_personal_chat_is_an_invitation_the_parent_accepts(
    site: Site, page: Page, nio_as: Any
) -> None:
    teacher = await nio_as("t1")
    made = await teacher.room_create(
        is_direct=True, invite=[site.user("p1")], preset=nio.RoomPreset.trusted_private_chat
    )
    assert isinstance(made, nio.RoomCreateResponse), made
    said = await teacher.room_send(
        made.room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": "Здравствуйте! Можно обсудить оценки сына?"},
    )
    assert isinstance(said, nio.RoomSendResponse), said
    await messenger(page, site, "p1")
    invites = page.get_by_test_id("group-invites")
    await expect(invites).to_contain_text("Приглашает Учитель-t1 Анна")
    await invites.get_by_role("button", name="Принять").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Учитель-t1 Анна", timeout=30_000)
    await expect(page.get_by_test_id("timeline")).to_contain_text("Можно обсудить оценки сына?")
    await expect(page.get_by_test_id("group-direct")).to_contain_text("Учитель-t1 Анна")
    same_account = await nio_as("p1")
    async with httpx.AsyncClient(timeout=30) as http:
        direct = await http.get(
            f"{site.hs}/_matrix/client/v3/user/{quote(site.user('p1'))}/account_data/m.direct",
            headers={"Authorization": f"Bearer {same_account.access_token}"},
        )
    assert made.room_id in direct.json()[site.user("t1")]  # Element sees a personal chat too


async def test_earlier_messages_load_on_request(
    site: Site, page: Page, client: MatrixClient
) -> None:
    teacher = site.user("t4")
    made = await client.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"name": "История", "invite": [site.user("s3")], "preset": "private_chat"},
        as_user=teacher,
    )
    room = made["room_id"]
    await client.request(
        "POST", f"/_matrix/client/v3/join/{quote(room, safe='')}", {}, as_user=site.user("s3")
    )
    for n in range(1, 46):
        await client.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/m.room.message/hist-{n}",
            {"msgtype": "m.text", "body": f"Сообщение номер {n}."},
            as_user=teacher,
        )
    await messenger(page, site, "s3")
    await open_chat(page, "История")
    timeline = page.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("Сообщение номер 45.")
    await expect(timeline).not_to_contain_text("Сообщение номер 1.")
    first = timeline.get_by_text("Сообщение номер 1.", exact=True)
    for _ in range(5):  # 30 at a time: two pages at most
        if await first.count():
            break
        shown = await timeline.locator(".m-msg").count()
        await page.get_by_test_id("older").click()
        await expect(timeline.locator(".m-msg")).not_to_have_count(shown)
    await expect(timeline.get_by_text("Сообщение номер 1.", exact=True)).to_be_visible()
    assert await timeline.locator(".m-msg").count() == 45


async def test_an_edit_from_another_client_replaces_the_text_and_a_deletion_shows(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    teacher = await nio_as("t4")
    sent = await teacher.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "Контрольная в среду"}
    )
    assert isinstance(sent, nio.RoomSendResponse), sent
    doomed = await teacher.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "Ошибочное сообщение"}
    )
    assert isinstance(doomed, nio.RoomSendResponse), doomed
    await messenger(page, site, "s2")
    await open_chat(page, CLASS_CHAT)
    timeline = page.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("Контрольная в среду")
    edit = await teacher.room_send(
        room,
        "m.room.message",
        {  # as Element edits a message
            "msgtype": "m.text",
            "body": "* Контрольная в пятницу",
            "m.new_content": {"msgtype": "m.text", "body": "Контрольная в пятницу"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": sent.event_id},
        },
    )
    assert isinstance(edit, nio.RoomSendResponse), edit
    message = timeline.locator(f'[data-event-id="{sent.event_id}"]')
    await expect(message).to_contain_text("Контрольная в пятницу")
    await expect(message.get_by_test_id("edited")).to_have_text("(изменено)")
    await expect(timeline).not_to_contain_text("* Контрольная в пятницу")
    gone = await teacher.room_redact(room, doomed.event_id, "ошибка")
    assert isinstance(gone, nio.RoomRedactResponse), gone
    deleted = timeline.locator(f'[data-event-id="{doomed.event_id}"]')
    await expect(deleted.get_by_test_id("deleted")).to_have_text("Сообщение удалено")
    await expect(timeline).not_to_contain_text("Ошибочное сообщение")


async def test_one_edits_and_deletes_ones_own_message_for_everybody(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "s1")
    await open_chat(page, CLASS_CHAT)
    await messenger_send(page, "Сдам реферат завтра")
    # once the server has it: the message is drawn anew when its local id becomes the server's
    mine = page.locator('.m-msg.mine[data-event-id^="$"]', has_text="Сдам реферат завтра")
    await mine.get_by_role("button", name="Изменить").click()
    await expect(page.get_by_test_id("editing")).to_have_text("Изменение сообщения")
    await expect(page.get_by_label("Сообщение")).to_have_value("Сдам реферат завтра")
    await page.get_by_label("Сообщение").fill("Сдам реферат сегодня")
    await page.get_by_label("Сообщение").press("Enter")
    edited = page.get_by_test_id("timeline").locator(".m-msg.mine", has_text="Сдам реферат сегодня")
    await expect(edited.get_by_test_id("edited")).to_have_text("(изменено)")
    classmate = await nio_as("s2")
    edit = await wait_for(
        classmate,
        room,
        lambda e: e["content"].get("m.new_content", {}).get("body") == "Сдам реферат сегодня",
        "the edit",
    )
    original = edit["content"]["m.relates_to"]["event_id"]
    assert edit["content"]["m.relates_to"]["rel_type"] == "m.replace"
    assert edit["sender"] == site.user("s1")
    await edited.get_by_role("button", name="Удалить").click()
    await page.get_by_role("dialog").get_by_role("button", name="Удалить").click()
    await expect(
        page.get_by_test_id("timeline").locator(f'[data-event-id="{original}"]')
    ).to_contain_text("Сообщение удалено")
    redaction = await wait_for(
        classmate,
        room,
        lambda e: (
            e["type"] == "m.room.redaction"
            and e.get("redacts", e["content"].get("redacts")) == original
        ),
        "the deletion",
    )
    assert redaction["sender"] == site.user("s1")


async def test_homework_handed_in_from_the_messenger_is_counted(
    site: Site, page: Page, client: MatrixClient, nio_as: Any, tmp_path: Path
) -> None:
    """«Сдать задание» under the bot's task: the file goes as an answer to it, and the
    teacher's «Сдали» counts the student (the old page sent it without the reply)."""
    room = await class_room(site, client)
    teacher = await nio_as("t1")
    said = await teacher.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "!дз Решить задачи 1–3"}
    )
    assert isinstance(said, nio.RoomSendResponse), said
    task = await wait_for(
        teacher,
        room,
        lambda e: (
            "org.parta.homework" in e["content"]
            and "Решить задачи 1–3" in e["content"].get("body", "")
        ),
        "the homework task",
    )
    await messenger(page, site, "s3")
    await open_chat(page, CLASS_CHAT)
    answer = tmp_path / "решение.txt"
    answer.write_text("1) 4  2) 9  3) 16\n", encoding="utf-8")
    item = page.locator(f'[data-event-id="{task["event_id"]}"]')
    async with page.expect_file_chooser() as chooser:
        await item.get_by_test_id("hand-in").click()
    await (await chooser.value).set_files(str(answer))
    handed = await wait_for(
        teacher,
        room,
        lambda e: e["content"].get("body") == "решение.txt",
        "the file the student handed in",
    )
    assert handed["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == task["event_id"]
    bots = BotsApi(
        site.stack.config.bots_url, site.stack.config.invite_token_file.read_text().strip()
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = await bots.homework(room)
        tasks = [h for h in listed.homework if h.event_id == task["event_id"]]
        if tasks and tasks[0].handed_in:
            break
        await asyncio.sleep(0.2)
    assert [h.student for h in tasks[0].handed_in] == [site.user("s3")]


async def test_a_student_sees_before_writing_that_only_staff_write_in_announcements(
    site: Site, page: Page
) -> None:
    await messenger(page, site, "s1")
    await open_chat(page, "Объявления")
    await expect(page.get_by_test_id("read-only")).to_have_text(
        "Только сотрудники школы могут писать в этот чат"
    )
    await expect(page.get_by_label("Сообщение")).to_be_hidden()
    await open_chat(page, CLASS_CHAT)  # where she may write, the box is there
    await expect(page.get_by_label("Сообщение")).to_be_visible()
    await expect(page.get_by_test_id("read-only")).to_be_hidden()


async def test_a_refused_message_says_why_in_russian_and_can_be_sent_again(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    room = await class_room(site, client)
    await messenger(page, site, "s2")
    await open_chat(page, CLASS_CHAT)
    refuse = "**/_matrix/client/v3/rooms/*/send/m.room.message/*"

    async def forbidden(route: Any) -> None:
        await route.fulfill(
            status=403,
            json={"errcode": "M_FORBIDDEN", "error": "user_level (0) < send_level (60)"},
        )

    await page.route(refuse, forbidden)  # the homeserver refuses, as it would a student
    await page.get_by_label("Сообщение").fill("Проверка связи")
    await page.get_by_role("button", name="Отправить").click()
    marker = page.get_by_test_id("not-sent")
    await expect(marker).to_contain_text("Не отправлено")
    await expect(page.get_by_test_id("messenger-alert")).to_have_text(
        "Сообщение не отправлено: вам нельзя писать в этот чат"
    )
    await page.unroute(refuse)
    await marker.get_by_role("button", name="Повторить").click()
    classmate = await nio_as("s1")
    sent = await wait_for(
        classmate, room, lambda e: e["content"].get("body") == "Проверка связи", "the message"
    )
    assert sent["sender"] == site.user("s2")
    await expect(marker).to_have_count(0)


async def bot_said(client: nio.AsyncClient, site: Site, room: str, text: str) -> dict[str, Any]:
    return await wait_for(
        client,
        room,
        lambda e: e["sender"] == site.school.bot and text in str(e["content"].get("body")),
        f"the bot's «{text}»",
    )


async def teacher_does(page: Page, action: str) -> Any:
    await page.get_by_role("button", name="Учителю", exact=True).click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name=action, exact=True).click()
    return dialog


async def test_a_teacher_s_commands_are_buttons_and_the_bot_answers_in_the_chat(
    site: Site, page: Page, client: MatrixClient, nio_as: Any, browser: Browser
) -> None:
    """Issue 21, items 2 and 6: homework, who handed in, a chat with a link and its QR
    code, revoking the links — from buttons, no command to remember; a student has none."""
    room = await class_room(site, client)
    classmate = await nio_as("s1")
    await messenger(page, site, "t1")
    await open_chat(page, CLASS_CHAT)

    dialog = await teacher_does(page, "Задать домашнее задание")
    await dialog.get_by_label("Задание").fill("Прочитать параграф 5")
    await dialog.get_by_role("button", name="Отправить").click()
    task = await bot_said(classmate, site, room, "Домашнее задание: Прочитать параграф 5")
    assert "org.parta.homework" in task["content"]
    await expect(page.get_by_test_id("timeline")).to_contain_text(
        "Домашнее задание: Прочитать параграф 5"
    )

    await teacher_does(page, "Кто сдал")
    await bot_said(classmate, site, room, "Сдали (0)")

    dialog = await teacher_does(page, "Новый чат со ссылкой")
    await dialog.get_by_label("Название чата").fill("Шахматный кружок")
    await dialog.get_by_label("Для кого ссылка").select_option(label="для учеников")
    await dialog.get_by_role("button", name="Создать").click()
    made = await bot_said(classmate, site, room, "Чат «Шахматный кружок» создан")
    assert "для учеников" in made["content"]["body"]
    qr = await bot_said(classmate, site, room, "QR-код для вступления в чат «Шахматный кружок»")
    assert qr["content"]["msgtype"] == "m.image"
    await expect(page.get_by_test_id("image-preview").last).to_be_visible()

    dialog = await teacher_does(page, "Отозвать ссылки на этот чат")
    await dialog.get_by_role("button", name="Отозвать", exact=True).click()
    await bot_said(classmate, site, room, "Ссылки на этот чат отозваны")

    student = await browser.new_page()  # her own session
    try:
        await messenger(student, site, "s1")
        await open_chat(student, CLASS_CHAT)
        await expect(student.get_by_test_id("call")).to_be_visible()
        await expect(student.get_by_role("button", name="Учителю")).to_have_count(0)
    finally:
        await student.close()


async def test_a_meeting_now_from_the_parents_chat_is_a_join_button(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    """Issue 21, item 5: a meeting may start now; the bot's link is a «Присоединиться»
    button in the messenger (the plain text keeps the address for other clients)."""
    key = room_key(sid("org"), RoomKind.CLASS_PARENTS, f"{PREFIX}-5a")
    room = await client.resolve_alias(RoomAlias(f"#{key}:{site.stack.config.server_name}"))
    assert room is not None
    parent = await nio_as("p1")
    await messenger(page, site, "t1")
    await open_chat(page, "5А — родители")
    dialog = await teacher_does(page, "Собрание")
    await expect(dialog.get_by_label("Начать сейчас")).to_be_checked()
    await dialog.get_by_label("Минут").fill("20")
    await dialog.get_by_label("Тема").fill("Срочный вопрос")
    await page.screenshot(path=SCREENSHOTS / "messenger-teacher.png")
    await dialog.get_by_role("button", name="Создать").click()
    posted = await bot_said(parent, site, room, "Родительское собрание: Срочный вопрос")
    url = posted["content"]["org.parta.meeting"]["call_url"]
    assert f"Присоединиться: {url}" in posted["content"]["body"]  # the plain-text fallback
    join = page.get_by_test_id("formatted").get_by_role("link", name="Присоединиться").last
    await expect(join).to_have_attribute("href", url)
    await expect(join).to_have_class(re.compile("m-join"))
    await expect(page.get_by_test_id("timeline")).not_to_contain_text(url)  # no raw address


async def test_a_call_starts_from_a_chat_and_a_running_one_is_joined_from_any_chat(
    site: Site, page: Page, client: MatrixClient, http: httpx.AsyncClient
) -> None:
    """Issue 21, item 5: «Позвонить» where one may write; in «Объявления» a student has no
    button until a teacher's call runs there, then «Присоединиться к звонку»."""
    bridge = site.stack.config.call_url
    room = await class_room(site, client)
    await messenger(page, site, "s1")
    await open_chat(page, CLASS_CHAT)
    start = page.get_by_role("link", name="Позвонить")
    await expect(start).to_be_visible()
    assert unquote(await start.get_attribute("href") or "") == f"{bridge}/room/{room}"
    await open_chat(page, "Объявления")
    key = room_key(sid("org"), RoomKind.ANNOUNCEMENTS)
    announcements = await client.resolve_alias(RoomAlias(f"#{key}:{site.stack.config.server_name}"))
    assert announcements is not None
    await expect(page.get_by_test_id("read-only")).to_be_visible()
    await expect(page.get_by_test_id("call")).to_have_count(0)
    call = f"room/{announcements}"
    ws_url, _ = await place(site.stack, call)
    teacher = CallPeer(ws_url, call, await mint_openid(client, http, site.user("t1")))
    try:
        await teacher.join()
        await teacher.publish(shade=None)
        join = page.get_by_role("link", name="Присоединиться к звонку")
        await expect(join).to_be_visible(timeout=20_000)
        href = unquote(await join.get_attribute("href") or "")
        assert href.startswith(bridge), href  # the bridge's own widget
        assert href.endswith(call), href
    finally:
        await teacher.close()
    await expect(page.get_by_test_id("call")).to_have_count(0, timeout=20_000)  # it ended


async def test_contacts_are_grouped_searchable_and_the_unlinked_get_a_letter(
    site: Site, page: Page, browser: Browser
) -> None:
    """Issue 21, item 10: a parent's own child first, then the class teacher; search by
    name or class; people not yet linked last, and their class teacher can print them an
    access letter from there."""
    await messenger(page, site, "p1")
    await page.get_by_role("button", name="Контакты").click()
    contacts = page.get_by_test_id("contacts")
    groups = contacts.locator("section h3")
    await expect(groups.first).to_contain_text("Мои дети")
    await expect(contacts.locator("section").first).to_contain_text("Ученик0 Иван")
    await expect(contacts.locator("section", has_text="Классные руководители")).to_contain_text(
        "Учитель-t1 Анна"
    )
    await page.get_by_label("Найти по имени или классу").fill("учитель-t4")
    await expect(contacts.locator("li")).to_have_count(1)
    await expect(contacts).to_contain_text("Учитель-t4 Анна")
    await page.get_by_label("Найти по имени или классу").fill("никого-такого")
    await expect(contacts).to_have_text("Никого не нашлось")
    await expect(page.get_by_test_id("letter")).to_have_count(0)  # a parent prints no letters

    teacher = await browser.new_page()  # her own session
    try:
        await messenger(teacher, site, "t1")
        await teacher.get_by_role("button", name="Контакты").click()
        parents = teacher.get_by_test_id("contacts").locator(
            "section", has_text="Родители учеников"
        )
        names = await parents.locator(".m-contact-name").all_inner_texts()
        waiting = parents.locator("li", has_text="ещё не подключился")
        await expect(waiting.first).to_be_visible()
        first_unlinked = names.index(await waiting.first.locator(".m-contact-name").inner_text())
        assert all(
            "ещё не подключился" in text
            for text in (await parents.locator("li").all_inner_texts())[first_unlinked:]
        )  # the unlinked last
        letter = waiting.filter(has_text="Родитель-p2").get_by_test_id("letter")
        await letter.click()
        await expect(teacher.get_by_role("heading", name="Доступ к дневнику")).to_be_visible()
        chosen = teacher.locator("select[name=person] option:checked", has_text="Родитель-p2")
        await expect(chosen).to_have_count(1)
    finally:
        await teacher.close()


async def test_the_messenger_and_its_dialogs_meet_wcag_aa(
    site: Site, page: Page, client: MatrixClient, nio_as: Any
) -> None:
    """Issue 21, item 11: axe-core finds no serious or critical WCAG 2.1 AA violation in the
    list, a chat with every kind of message in it, and each dialog a teacher opens."""
    _, _, said = await classmate_asks(site, client, nio_as, "Вопрос по задаче 3")
    await messenger(page, site, "t1")
    problems = await accessibility_problems(page, "the chat list")
    await open_chat(page, CLASS_CHAT)
    question = page.locator(f'[data-event-id="{said}"]')
    await question.get_by_role("button", name="Ответить").click()
    await expect(page.locator(".m-reply")).to_contain_text("Вопрос по задаче 3")
    await messenger_send(page, "Ответ: смотрите пример на доске")  # one's own, with a quote
    await expect(page.locator(".m-msg.mine .m-quote").last).to_be_visible()
    problems += await accessibility_problems(page, "a class chat")
    for button, then in (
        ("Контакты", None),
        ("Поддержка", None),
        ("Уведомления", None),
        ("Учителю", None),
        ("Учителю", "Собрание"),
        ("Учителю", "Новый чат со ссылкой"),
        ("Опрос", None),
    ):
        await page.get_by_role("button", name=button, exact=True).click()
        if then:
            await page.get_by_role("dialog").get_by_role("button", name=then).click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        problems += await accessibility_problems(page, f"«{button}» {then or ''}")
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_be_hidden()
    assert problems == [], "\n".join(problems)


async def test_a_parent_s_report_reaches_the_moderators_who_remove_the_message(
    site: Site, page: Page, client: MatrixClient, nio_as: Any, browser: Browser
) -> None:
    """Issue 19, item 2: «Пожаловаться» sends Matrix's report; the school's «Модерация»
    (the administration) reads who, where, what and why; «!удалить N» removes the message
    for everybody (read back by matrix-nio) and is in Управление → Журнал действий."""
    key = room_key(sid("org"), RoomKind.CLASS_PARENTS, f"{PREFIX}-5a")
    parents = await client.resolve_alias(RoomAlias(f"#{key}:{site.stack.config.server_name}"))
    moderation_key = room_key(sid("org"), RoomKind.MODERATION)
    moderation = await client.resolve_alias(
        RoomAlias(f"#{moderation_key}:{site.stack.config.server_name}")
    )
    assert parents is not None
    assert moderation is not None
    marker = f"Обидные слова {time.monotonic_ns()}"
    teacher = await nio_as("t1")  # the class teacher, in the class's parents' chat
    mother = await nio_as("p1")
    sent = await teacher.room_send(parents, "m.room.message", {"msgtype": "m.text", "body": marker})
    assert isinstance(sent, nio.RoomSendResponse), sent
    reporter, author = "p1", "t1"
    await messenger(page, site, reporter)
    await open_chat(page, "5А — родители")
    item = page.locator(f'[data-event-id="{sent.event_id}"]')
    await item.get_by_test_id("report").click()
    dialog = page.get_by_role("dialog", name="Пожаловаться на сообщение")
    await dialog.get_by_label("Что не так (необязательно)").fill("грубость")
    await dialog.get_by_role("button", name="Отправить жалобу").click()
    await expect(page.get_by_role("status").first).to_contain_text(
        "Жалоба отправлена администрации школы"
    )

    admin = await nio_as("a1")
    notice = await wait_for(
        admin,
        moderation,
        lambda e: e["sender"] == site.school.bot and marker in str(e["content"].get("body")),
        "the report in «Модерация»",
    )
    body = notice["content"]["body"]
    assert "Причина: грубость" in body
    assert "«5А — родители»" in body
    number = notice["content"]["org.parta.report"]["report_id"]
    said = await admin.room_send(
        moderation, "m.room.message", {"msgtype": "m.text", "body": f"!удалить {number}"}
    )
    assert isinstance(said, nio.RoomSendResponse), said
    await wait_for(
        admin,
        moderation,
        lambda e: f"Жалоба №{number}: сообщение удалено" in str(e["content"].get("body")),
        "the bot's «сообщение удалено»",
    )
    gone = await mother.room_get_event(parents, sent.event_id)
    assert isinstance(gone, nio.RoomGetEventResponse), gone
    assert "redacted_because" in gone.event.source.get("unsigned", {}), gone.event.source
    assert "body" not in gone.event.source["content"]

    office = await browser.new_page()
    try:
        await sign_in_at(office, site.url, site.logins["a1"], PASSWORD)
        await office.get_by_role("link", name="Управление → Журнал действий").click()
        row = office.get_by_test_id("moderation-log").locator("tr", has_text=f"№{number}")
        await expect(row).to_contain_text("Удалено сообщение")
        await expect(row).to_contain_text(site.diary.people[sid(author)].display_name)
        await office.screenshot(path=SCREENSHOTS / "moderation-log.png")
    finally:
        await office.close()
    refused = await browser.new_page()
    try:  # a teacher is not the administration
        await sign_in_at(refused, site.url, site.logins["t1"], PASSWORD)
        answer = await refused.goto(f"{site.url}/manage/moderation")
        assert answer is not None
        assert answer.status == 403
    finally:
        await refused.close()


async def test_a_teacher_sees_who_has_read_her_message_and_a_student_sees_nobody_s_reading(
    site: Site, page: Page, client: MatrixClient, nio_as: Any, browser: Browser
) -> None:
    """Issue 19, item 1: «Прочитали N из M» under a teacher's own message, counted by the
    server from the receipts; pressed, the names of who has read and who has not."""
    room = await class_room(site, client)
    members = set(await client.joined_members(room))
    others = members - {site.user("t1"), site.school.bot}
    await messenger(page, site, "t1")
    await open_chat(page, CLASS_CHAT)
    text = f"Завтра контрольная {time.monotonic_ns()}"
    await messenger_send(page, text)
    mine = page.locator(".m-msg.mine", has_text=text)
    count = mine.get_by_test_id("read-count")
    await expect(count).to_have_text(f"Прочитали 0 из {len(others)}", timeout=20_000)
    event_id = await mine.get_attribute("data-event-id")
    assert event_id is not None
    for who in ("s1", "s2"):
        reader = await nio_as(who)
        marked = await reader.room_read_markers(room, event_id, event_id)
        assert not isinstance(marked, nio.ErrorResponse), marked
    await expect(count).to_have_text(f"Прочитали 2 из {len(others)}", timeout=20_000)
    await count.click()
    dialog = page.get_by_role("dialog", name="Кто прочитал")
    read = dialog.locator("ul").first
    await expect(read.locator("li")).to_have_count(2)
    await expect(read).to_contain_text("Ученик0 Иван")  # s1
    await expect(read).to_contain_text("Ученик1 Иван")  # s2
    await expect(dialog.locator("ul").nth(1).locator("li")).to_have_count(len(others) - 2)
    await page.screenshot(path=SCREENSHOTS / "messenger-readers.png")
    await page.keyboard.press("Escape")

    teacher = await nio_as("t1")  # any client: «!кто» in answer to her own message
    asked = await teacher.room_send(
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": f"> <{site.user('t1')}> {text}\n\n!кто",
            "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
        },
    )
    assert isinstance(asked, nio.RoomSendResponse), asked
    said = await wait_for(
        teacher,
        room,
        lambda e: (
            e["sender"] == site.school.bot
            and str(e["content"].get("body")).startswith(f"Прочитали 2 из {len(others)}: ")
        ),
        "the bot's answer to «!кто»",
    )
    assert "Ученик0 Иван, Ученик1 Иван. Ещё не прочитали:" in said["content"]["body"]

    student = await browser.new_page()
    try:
        await messenger(student, site, "s1")
        await open_chat(student, CLASS_CHAT)
        await expect(student.locator(f'[data-event-id="{event_id}"]')).to_be_visible()
        await expect(student.get_by_test_id("read-count")).to_have_count(0)
        answer = await student.request.get(
            f"{site.url}/chats/readers?room={quote(room)}&event={quote(event_id)}"
        )
        assert answer.status == 403
    finally:
        await student.close()


async def test_the_lesson_s_page_in_the_journal_shows_who_handed_in_that_day_s_homework(
    site: Site, page: Page, browser: Browser, client: MatrixClient, nio_as: Any
) -> None:
    """Issue 19, item 5: Журнал → a lesson → «Домашнее задание»: the task its teacher set in
    the class chat that day, «Сдали 1 из N», who handed in which file."""
    room = await class_room(site, client)
    teacher, student = await nio_as("t4"), await nio_as("s1")
    text = f"Задачи 1–5 {time.monotonic_ns()}"
    said = await teacher.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": f"!дз {text}"}
    )
    assert isinstance(said, nio.RoomSendResponse), said
    task = await wait_for(
        teacher, room, lambda e: "org.parta.homework" in e["content"]
        and text in e["content"].get("body", ""), "the homework task",
    )  # fmt: skip
    answer = b"1) 2  2) 4  3) 6\n"
    uploaded, _ = await student.upload(
        io.BytesIO(answer), content_type="text/plain", filename="ответ.txt", filesize=len(answer)
    )
    assert isinstance(uploaded, nio.UploadResponse), uploaded
    handed = await student.room_send(
        room,
        "m.room.message",
        {
            "msgtype": "m.file", "body": "ответ.txt", "url": uploaded.content_uri,
            "info": {"mimetype": "text/plain", "size": len(answer)},
            "m.relates_to": {"m.in_reply_to": {"event_id": task["event_id"]}},
        },
    )  # fmt: skip
    assert isinstance(handed, nio.RoomSendResponse), handed
    bots = BotsApi(
        site.stack.config.bots_url, site.stack.config.invite_token_file.read_text().strip()
    )
    deadline = time.monotonic() + 30
    while not any(
        h.event_id == task["event_id"] and h.handed_in for h in (await bots.homework(room)).homework
    ):
        assert time.monotonic() < deadline, "the bots never counted the hand-in"
        await asyncio.sleep(0.2)

    await sign_in_at(page, site.url, site.logins["t4"], PASSWORD)
    await page.goto(f"{site.url}/journal/class/{sid('5a-math')}")
    await (
        page.get_by_role("region", name="Назначить урок")
        .get_by_role("button", name="Назначить")
        .click()
    )
    section = page.get_by_test_id("homework")
    work = section.locator("article", has_text=text)
    await expect(work).to_be_visible()
    students = site.diary.members_of(sid("5a-math"), EnrollmentRole.STUDENT)
    await expect(work.get_by_test_id("handed-count")).to_have_text(f"Сдали 1 из {len(students)}")
    pupil = site.diary.people[sid("s1")].display_name
    await expect(work.get_by_test_id("handed-in")).to_contain_text(f"{pupil}: ответ.txt")
    await section.scroll_into_view_if_needed()
    await page.screenshot(path=SCREENSHOTS / "journal-homework.png")
    lesson_url = page.url.split("?")[0]
    table = await page.request.get(f"{lesson_url}/homework.csv")
    assert table.status == 200
    rows = (await table.text()).lstrip("\ufeff").splitlines()
    assert rows[0] == "Урок;Задание;Ученик;Сдано;Файл;Когда"
    assert any(f";{text};{pupil};да;ответ.txt;" in r for r in rows), rows
    assert sum(f";{text};" in r and ";нет;" in r for r in rows) == len(students) - 1

    # her parent sees her hand-in in the week, nobody else's; a classmate's parent: not handed
    for parent, child, shown in (
        ("p1", "s1", re.compile(rf"Д/з: {re.escape(text)} — сдано: ответ\.txt \(")),
        ("p2", "s2", re.compile(rf"^Д/з: {re.escape(text)} — не сдано$")),
    ):
        home = await browser.new_page()
        try:
            login = site.logins.get(parent) or sid(parent)  # unlinked: the login is the id
            await sign_in_at(home, site.url, login, PASSWORD)
            await home.goto(f"{site.url}/diary?student={sid(child)}")
            own = home.get_by_test_id("own-homework").filter(has_text=text)
            await expect(own).to_have_text(shown)
        finally:
            await home.close()
