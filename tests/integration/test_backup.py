"""``parta backup`` → destroy → ``parta restore`` (issue 18.4), on SQLite and on PostgreSQL.

A running school with messages, a photo, a poll, linked people with diary passwords, a call's
attendance and a bot's lesson post is backed up while it runs, stopped and wiped (its state
folder and its databases), restored on new ports (and, on PostgreSQL, under new database
names), and started again: the student signs in with her password through matrix-nio and
reads what she had, the photo's bytes included; the teacher too; the diary lets both in; the
attendance is there; and the bot does not post its lesson a second time.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import nio
import pytest
import yaml

from appservice.diary_sync.layout import lesson_room
from appservice.school_sync import SyncOptions
from call_bridge.attendance import AttendanceBook, Visit
from call_bridge.worker import attendance_url
from homeserver.postgres import drop_database
from kernel.config import DatabaseConfig, SchoolConfig
from kernel.ids import RoomID, ServerName, SourcedId, room_alias
from kernel.matrix import MatrixClient
from parta.stack import SchoolStack
from tests.integration.conftest import POSTGRES_ADMIN_DSN, require_postgres, school_config
from tests.integration.diary_site import serve_school
from tests.integration.test_cli import parta
from tests.school import small_school
from web_client.store import DistanceLesson

pytestmark = pytest.mark.integration

PASSWORD = "пароль-резервной-копии-1"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _sid(local: str) -> SourcedId:
    return SourcedId(f"bk-{local}")


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        require_postgres()
    return str(request.param)


def _config(state: Path, kind: str, prefix: str, **overrides: object) -> SchoolConfig:
    extra: dict[str, object] = dict(overrides)
    if kind == "postgres":
        extra["database"] = DatabaseConfig(kind="postgres", dsn=ADMIN_DSN, name_prefix=prefix)
    return school_config(state, **extra)


def _write(config: SchoolConfig, path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True), encoding="utf-8"
    )
    return path


async def test_a_school_is_backed_up_wiped_and_restored_on_new_ports(
    kind: str, tmp_path: Path
) -> None:
    tag = f"bk{int(time.time() * 1000) % 10**8}"
    before = _config(tmp_path / "a", kind, f"{tag}a")
    dropped: list[str] = []
    try:
        # the operator's key pair: the school's host holds only the public half
        key = tmp_path / "backup.key"
        made_key = parta("backup-key", "--out", str(key))
        assert made_key.returncode == 0, made_key.stderr
        public = re.search(r"age1[0-9a-z]+", made_key.stdout)
        assert public is not None
        assert key.stat().st_mode & 0o077 == 0
        out = tmp_path / "backups"
        with SchoolStack.for_config(before) as running:
            had = await _a_school_at_work(running)
            # taken while the school runs, as the nightly timer does
            shown = parta(
                *("backup", "-c", str(running.config_path), "--out", str(out)),
                *("--recipient", public[0], "--json"),
                timeout=300,
            )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        made = json.loads(shown.stdout)
        archive = Path(made["path"])
        sealed = archive.read_bytes()  # noqa: ASYNC240 - a test's own file
        assert sealed.startswith(b"age-encryption.org/v1")
        assert PASSWORD.encode() not in sealed

        shutil.rmtree(before.state_dir)  # the old host is gone
        if kind == "postgres":
            for name in before.db_names:
                drop_database(POSTGRES_ADMIN_DSN, name)
        after = _config(
            tmp_path / "b", kind, f"{tag}b", server_name=before.server_name
        )  # new ports, folder and databases; the same Matrix server
        dropped += list(after.db_names) if kind == "postgres" else []
        config_b = _write(after, tmp_path / "b.yaml")
        wrong = tmp_path / "wrong.key"
        assert parta("backup-key", "--out", str(wrong)).returncode == 0
        refused = parta("restore", str(archive), "-c", str(config_b), "--identity", str(wrong))
        assert refused.returncode == 1
        assert "cannot decrypt" in refused.stderr
        restored = parta(
            "restore", str(archive), "-c", str(config_b), "--identity", str(key), timeout=300
        )
        assert restored.returncode == 0, restored.stdout + restored.stderr
        again = parta("restore", str(archive), "-c", str(config_b), "--identity", str(key))
        assert again.returncode == 1
        assert "not empty" in again.stderr

        with SchoolStack.for_config(after) as stack:
            await _it_works_as_before(stack, had)
    finally:
        if kind == "postgres":
            for name in {*dropped, *before.db_names}:
                drop_database(POSTGRES_ADMIN_DSN, name)


async def _a_school_at_work(stack: SchoolStack) -> dict[str, Any]:
    """Messages, a photo, a poll, two linked people, attendance, a bot's lesson post."""
    config = stack.config
    client = stack.client()
    store = stack.open_store()
    try:
        school = stack.school_sync(client, store)
        diary = small_school("bk")
        await serve_school(stack, school, diary, PASSWORD)
        for person in (_sid("s1"), _sid("t4")):
            await school.link(diary, person, None, SyncOptions())
        diary_store = stack.open_diary_store()
        try:
            for person in (_sid("s1"), _sid("t4")):
                diary_store.set_matrix_user(person, school.puppet_id(person))
            lesson_id = _distance_lesson(stack, diary_store)
        finally:
            diary_store.close()
        room = await _class_room(stack, client)
        student = await _signed_in(stack, "bk-s1")
        teacher = await _signed_in(stack, "bk-t4")
        try:
            photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
            uploaded, _ = await student.upload(
                lambda *_: photo, content_type="image/png", filesize=len(photo)
            )
            assert isinstance(uploaded, nio.UploadResponse), uploaded
            texts = {"from-student": "Я сделала домашнее задание"}
            await _send(student, room, {"msgtype": "m.text", "body": texts["from-student"]})
            await _send(
                student,
                room,
                {"msgtype": "m.image", "body": "фото.png", "url": uploaded.content_uri},
            )
            poll = {
                "org.matrix.msc3381.poll.start": {
                    "question": {"org.matrix.msc1767.text": "Когда контрольная?"},
                    "kind": "org.matrix.msc3381.poll.disclosed",
                    "max_selections": 1,
                    "answers": [
                        {"id": "a", "org.matrix.msc1767.text": "Во вторник"},
                        {"id": "b", "org.matrix.msc1767.text": "В четверг"},
                    ],
                },
                "org.matrix.msc1767.text": "Когда контрольная?",
            }
            sent = await teacher.room_send(room, "org.matrix.msc3381.poll.start", poll)
            assert isinstance(sent, nio.RoomSendResponse), sent
        finally:
            await student.close()
            await teacher.close()
        book = AttendanceBook(attendance_url(config))
        try:
            now = time.time()
            book.record(f"lesson/{lesson_id}", Visit("@x:y", "Ученик1", now - 600, now))
        finally:
            book.close()
        await _one_lesson_post(client, room, lesson_id)
    finally:
        store.close()
        await client.aclose()
    return {"room": room, "photo": photo, "text": texts["from-student"], "lesson": lesson_id}


def _distance_lesson(stack: SchoolStack, diary_store: Any) -> str:
    zone = ZoneInfo(stack.config.diary.timezone)
    now = datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)
    starts = now + timedelta(hours=3)
    lesson_id = f"{_sid('math')}@{starts.date().isoformat()}"
    diary_store.add_distance_lesson(
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
    return lesson_id


async def _class_room(stack: SchoolStack, client: MatrixClient) -> RoomID:
    """The 5A maths group's chat, where its lessons are posted."""
    chat = lesson_room(small_school("bk"), _sid("5a-math"))
    assert chat is not None
    found = await client.resolve_alias(room_alias(chat, ServerName(stack.config.server_name)))
    assert found is not None
    return found


async def _signed_in(stack: SchoolStack, login: str) -> nio.AsyncClient:
    """The person's own password, checked by the diary: what Element does."""
    client = nio.AsyncClient(stack.config.homeserver_url, login)
    answer = await client.login(PASSWORD)
    assert isinstance(answer, nio.LoginResponse), (login, answer)
    return client


async def _send(client: nio.AsyncClient, room: RoomID, content: dict[str, Any]) -> None:
    sent = await client.room_send(room, "m.room.message", content)
    assert isinstance(sent, nio.RoomSendResponse), sent


async def _lesson_posts(client: MatrixClient, room: RoomID, lesson_id: str) -> int:
    found = await client.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/messages?dir=b&limit=100"
    )
    return sum(
        1
        for e in found.get("chunk", [])
        if e.get("type") == "m.room.message"
        and e["content"].get("org.parta.lesson", {}).get("lesson_id") == lesson_id
        and "m.new_content" not in e["content"]
    )


async def _one_lesson_post(client: MatrixClient, room: RoomID, lesson_id: str) -> None:
    deadline = time.monotonic() + 30
    while await _lesson_posts(client, room, lesson_id) < 1:
        assert time.monotonic() < deadline, "the bots did not post the lesson"
        await asyncio.sleep(0.2)


async def _bot_runs(stack: SchoolStack) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"{stack.config.bots_url}/health")
    return int(answer.json()["runs"])


async def _it_works_as_before(stack: SchoolStack, had: dict[str, Any]) -> None:
    room = had["room"]
    student = await _signed_in(stack, "bk-s1")
    teacher = await _signed_in(stack, "bk-t4")
    try:
        for reader in (student, teacher):
            messages = await reader.room_messages(room, start="", limit=100)
            assert isinstance(messages, nio.RoomMessagesResponse), messages
            bodies = [getattr(e, "body", "") for e in messages.chunk]
            assert had["text"] in bodies
            kinds = {e.source.get("type") for e in messages.chunk}
            assert "org.matrix.msc3381.poll.start" in kinds
            images = [e for e in messages.chunk if isinstance(e, nio.RoomMessageImage)]
            assert len(images) == 1
            downloaded = await reader.download(mxc=images[0].url)
            assert isinstance(downloaded, nio.DownloadResponse), downloaded
            assert downloaded.body == had["photo"]
    finally:
        await student.close()
        await teacher.close()
    async with httpx.AsyncClient(base_url=stack.config.diary_url) as diary:
        page = await diary.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"csrf": csrf[1], "login": "bk-s1", "password": PASSWORD}
        answer = await diary.post("/login", data=form)
        assert answer.status_code == 303, answer.text
    book = AttendanceBook(attendance_url(stack.config))
    try:
        assert [v.name for v in book.visits(f"lesson/{had['lesson']}")] == ["Ученик1"]
    finally:
        book.close()
    # the bots remember what they posted: two whole rounds, and still one post
    client = stack.client()
    try:
        start = await _bot_runs(stack)
        deadline = time.monotonic() + 30
        while await _bot_runs(stack) < start + 2:
            assert time.monotonic() < deadline, "the bots did not run"
            await asyncio.sleep(0.2)
        assert await _lesson_posts(client, room, had["lesson"]) == 1
    finally:
        await client.aclose()
