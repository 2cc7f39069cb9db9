"""A student leaves the school: the account stops at the next sync, is erased after the
period, and the school can hand a person their data (a real Synapse, a real diary)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from appservice.diary_sync.model import Diary
from appservice.erasure import due, erase_due
from appservice.school_sync import DAY_MS, SchoolSync, SyncOptions
from kernel.config import RetentionConfig
from kernel.ids import SourcedId, UserID
from kernel.matrix import MatrixClient, MatrixError
from kernel.matrix.admin import SynapseAdmin, admin_token
from parta.stack import SchoolStack
from tests.integration.diary_site import serve_school
from tests.school import small_school

pytestmark = pytest.mark.integration
PASSWORD = "пароль-выбывшего-1"
ROOT = Path(__file__).resolve().parents[2]
STUDENT = SourcedId("lv-s3")
CLASSMATE = SourcedId("lv-s2")  # leaves too; erased by the sync's own erasure


def _without(diary: Diary, *gone: SourcedId) -> Diary:
    return replace(
        diary,
        people={p: x for p, x in diary.people.items() if p not in gone},
        enrollments=frozenset(e for e in diary.enrollments if e.person_id not in gone),
        guardianships=frozenset(g for g in diary.guardianships if g.student_id not in gone),
    )


@pytest.fixture(scope="module")
async def admin(stack: SchoolStack) -> AsyncIterator[SynapseAdmin]:
    made = await stack.admin()
    yield made
    await made.client.aclose()


async def _password_login(stack: SchoolStack, login: str) -> httpx.Response:
    """What Element sends for «Логин» and «Пароль» (checked by the diary)."""
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": login},
        "password": PASSWORD,
    }
    async with httpx.AsyncClient() as http:
        return await http.post(f"{stack.config.homeserver_url}/_matrix/client/v3/login", json=body)


async def test_a_student_who_left_is_switched_off_at_the_next_sync_and_erased_later(
    stack: SchoolStack, school: SchoolSync, admin: SynapseAdmin, tmp_path: Path
) -> None:
    sync = replace(school, admin=admin, retention_ms=548 * DAY_MS)
    diary = small_school("lv")
    await serve_school(stack, sync, diary, PASSWORD)
    await sync.link(diary, STUDENT, None, SyncOptions())
    await sync.link(diary, CLASSMATE, None, SyncOptions())
    student = sync.puppet_id(STUDENT)
    diary_store = stack.open_diary_store()
    try:
        diary_store.set_matrix_user(STUDENT, student)  # what the diary's linking records
    finally:
        diary_store.close()
    signed_in = await _password_login(stack, "lv-s3")
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    async with MatrixClient(stack.config.homeserver_url, token, attempts=1) as own:
        assert await own.whoami() == student
        photo = await own.upload(b"\x89PNG fake photo of the class", "image/png", "class.png")
    assert (await admin.user(student))["displayname"]
    assert len(await admin.media(student)) == 1

    exported = tmp_path / "lv-s3.zip"
    said = await asyncio.to_thread(
        _parta, stack.config_path, "people", "export", "lv-s3", "--out", str(exported)
    )
    assert said.returncode == 0, said.stderr
    with zipfile.ZipFile(exported) as archive:
        names = archive.namelist()
        assert any(n.endswith("profile") for n in names), names
        assert (
            archive.read(f"media/{photo.rsplit('/', 1)[1]}") == b"\x89PNG fake photo of the class"
        )

    after = _without(diary, STUDENT, CLASSMATE)
    diary_store = stack.open_diary_store()
    try:
        diary_store.load(after, diary_store.timetable())  # what `parta sync` does first
    finally:
        diary_store.close()
    result = await sync.run(after, SyncOptions())
    assert result.report is not None
    assert not result.report.failed, result.report.failed
    assert result.report.done["Deactivate"] == 2
    assert (await admin.user(student))["deactivated"] is True
    async with MatrixClient(stack.config.homeserver_url, token, attempts=1) as own:
        with pytest.raises(MatrixError) as stale:
            await own.whoami()
    assert stale.value.errcode == "M_UNKNOWN_TOKEN"
    again = await _password_login(stack, "lv-s3")
    assert again.status_code == 403, again.text
    rooms = sync.store.room_ids()
    class_rooms = [room for key, room in rooms.items() if ".lv-org.class." in key]
    assert class_rooms
    for room in class_rooms:
        assert student not in await sync.client.joined_members(room)
        kept = await sync.client.state_event(room, "m.room.retention")
        assert kept == {"max_lifetime": 548 * DAY_MS}  # what every client can show
    rerun = await sync.run(after, SyncOptions())
    assert not [a for a in rerun.actions if type(a).__name__ == "Deactivate"]

    async with httpx.AsyncClient(base_url=stack.config.diary_url) as http:  # the diary's own
        form = await http.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        login = {"csrf": csrf[1], "login": "lv-s3", "password": PASSWORD}
        refused = await http.post("/login", data=login)
    assert refused.status_code != 303  # no way in: the account went with the roster
    assert "Неверный логин или пароль" in refused.text

    departures = sync.store.departures()
    now = int(time.time() * 1000)
    off = RetentionConfig(erase_after_days=0, erase_on_sync=False)
    assert await erase_due(admin, sync.store, off, now) == []  # the setting is off: nothing
    assert due(departures.values(), now, after_days=30) == []  # the period has not passed
    later = due(departures.values(), now + 31 * DAY_MS, after_days=30)
    classmate = sync.puppet_id(CLASSMATE)
    assert [d.user_id for d in later] == sorted([student, classmate])
    config = stack.config_path
    early = await asyncio.to_thread(_parta, config, "people", "erase", "--person", "lv-s3")
    assert early.returncode == 1
    assert "less than 30 days" in early.stderr
    pupil = await asyncio.to_thread(_parta, config, "people", "erase", "--person", "lv-s4")
    assert pupil.returncode == 1
    assert "not a person who left" in pupil.stderr
    assert (await admin.user(student)).get("erased") is False
    erased = await asyncio.to_thread(
        _parta, config, "people", "erase", "--person", "lv-s3", "--now", "--json"
    )
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["erased"] == [
        {"user_id": student, "name": "Ученик2 Иван", "media": 1}
    ]
    on = RetentionConfig(erase_after_days=30, erase_on_sync=True)
    assert await erase_due(admin, sync.store, on, now) == []  # not before the period
    by_sync = await erase_due(admin, sync.store, on, now + 31 * DAY_MS)
    assert [(e.user_id, e.media) for e in by_sync] == [(classmate, 0)]  # the other: done before
    assert (await admin.user(classmate)).get("erased") is True
    profile = await admin.user(student)
    assert not profile.get("displayname")
    assert profile.get("erased") is True
    assert await admin.media(student) == []
    assert sync.store.departures()[UserID(student)].erased_ms is not None


def _parta(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parta", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )


def test_personal_chats_get_the_servers_default_retention(stack: SchoolStack) -> None:
    config = stack.homeserver_config_path.read_text(encoding="utf-8")
    days = stack.config.retention.personal_days
    assert f"max_lifetime: {days}d" in config
    assert "retention:\n  enabled: true" in config


async def test_a_lost_admin_token_is_replaced_by_a_login_not_a_second_account(
    stack: SchoolStack,
) -> None:
    files = stack.config.admin_files
    first = await admin_token(stack.config.homeserver_url, files)
    files.token.unlink()
    second = await admin_token(stack.config.homeserver_url, files)
    assert second != first
    assert files.token.read_text(encoding="utf-8") == second
    assert files.token.stat().st_mode & 0o077 == 0
    async with MatrixClient(stack.config.homeserver_url, second, attempts=1) as client:
        assert await client.whoami() == f"@parta-admin:{stack.config.server_name}"
