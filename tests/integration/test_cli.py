"""The ``parta`` command as an operator uses it, and the demo as a newcomer sees it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import httpx
import pytest

from appservice.store import Store
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from synthetic.school import generate_school, write_oneroster
from tests.metrics import scrape, value
from tests.ports import free_port, free_port_block

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def parta(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parta", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def test_roster_check_names_every_problem_by_file_line_and_column() -> None:
    result = parta("roster", "check", "tests/fixtures/roster/broken")
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines
    assert all(re.match(r"^[\w.]+\.csv:\d+:[^:]*: .+", line) for line in lines), lines
    assert "Traceback" not in result.stderr


def test_a_generated_school_passes_roster_check_with_a_summary(tmp_path: Path) -> None:
    assert parta("school", "generate", "--students", "50", "--out", str(tmp_path)).returncode == 0
    result = parta("roster", "check", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Классы" in result.stdout


async def test_the_demo_writes_working_accounts_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "demo"
    args = ["demo", "--state", str(state), "--port", str(port)]
    demo = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "parta", *args, "--appservice-port", str(free_port())],
        *["--diary-port", str(free_port())],
        *["--bridge-port", str(free_port_block(3)), "--bots-port", str(free_port())],
        *["--metrics-port", str(free_port_block(7))],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out = state / "demo.json"
        for _ in range(3000):  # the demo's own readiness signal: demo.json appears
            if out.exists() or demo.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert out.exists(), "the demo exited or never wrote demo.json"
        data = json.loads(out.read_text(encoding="utf-8"))
        assert {a["role"] for a in data["accounts"]} == {
            "student",
            "parent",
            "class_teacher",
            "teacher",
            "administrator",
        }
        async with httpx.AsyncClient(base_url=data["homeserver"]) as http:
            for account in data["accounts"]:
                await _sees_exactly_its_rooms(http, account)
        (lesson,) = data["lessons"]  # one lesson in its window now, with its call page
        weeks = {}
        for account in data["accounts"]:
            async with httpx.AsyncClient(base_url=data["diary"]) as diary:
                weeks[account["role"]] = await _signs_in_to_the_diary(diary, account)
        # it is in the student's week, starts in a few minutes and stays open two hours
        assert f'data-lesson="{lesson["lesson_id"]}"' in weeks["student"]
        starts = datetime.fromisoformat(lesson["start"])
        ends = datetime.fromisoformat(lesson["end"])
        assert ends - starts == timedelta(hours=2) or ends.time() == time(23, 59)
        assert lesson["join_url"].startswith(data["call_bridge"])
        async with httpx.AsyncClient() as http:
            page = await http.get(lesson["join_url"])
        assert page.status_code == 200
        assert 'data-testid="call-page"' in page.text
        # the operator's view: every component's metrics, listed in demo.json
        metrics = data["metrics"]
        assert {"synapse", "appservice", "diary", "bots", "call_bridge"} <= set(metrics)
        for url in metrics.values():
            assert await scrape(url)
        diary_seen = await scrape(metrics["diary"])
        signed_in = value(diary_seen, "parta_diary_logins_total", via="diary", result="ok")
        assert signed_in >= len(data["accounts"])
        synced = await scrape(metrics["appservice"])
        assert value(synced, "parta_appservice_last_sync_actions") > 0
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(demo.communicate(), timeout=60)
    assert demo.returncode == 0, output.decode()


async def _sees_exactly_its_rooms(http: httpx.AsyncClient, account: dict[str, object]) -> None:
    auth = {"Authorization": f"Bearer {account['access_token']}"}
    who = await http.get("/_matrix/client/v3/account/whoami", headers=auth)
    assert who.json()["user_id"] == account["user_id"]
    joined = await http.get("/_matrix/client/v3/joined_rooms", headers=auth)
    expected = set()
    rooms = account["rooms"]
    assert isinstance(rooms, list)
    for alias in rooms:
        found = await http.get(f"/_matrix/client/v3/directory/room/{alias.replace('#', '%23')}")
        expected.add(found.json()["room_id"])
    assert set(joined.json()["joined_rooms"]) == expected, account["role"]


async def _signs_in_to_the_diary(http: httpx.AsyncClient, account: dict[str, object]) -> str:
    """The person's «Дневник» page, once signed in."""
    page = await http.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    form = {"csrf": found[1], "login": account["login"], "password": account["password"]}
    answer = await http.post("/login", data=form)
    assert answer.status_code == 303, account["role"]
    assert answer.headers["location"] == "/diary"
    diary = await http.get("/diary")
    assert str(account["name"]) in diary.text
    return diary.text


def test_a_sync_against_a_school_never_started_fails_clearly(tmp_path: Path) -> None:
    config = tmp_path / "parta.yaml"
    port = free_port()
    state = tmp_path / "state"
    lines = [
        f"server_name: 'localhost:{port}'",
        f"state_dir: '{state}'",
        f"homeserver: {{client_port: {port}}}",
        f"appservice: {{port: {free_port()}}}",
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # No homeserver runs for this config: a dry run must still fail clearly, not crash.
    result = parta("sync", "demo/school", "-c", str(config), "--dry-run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "parta run" in result.stderr


def test_a_dry_run_prints_a_readable_plan_and_changes_nothing(
    stack: SchoolStack, store: Store, tmp_path: Path
) -> None:
    roster = tmp_path / "roster"
    write_oneroster(
        generate_school(30, seed=11, school_name="Школа сухого прогона", school_id="org-dry"),
        roster,
    )
    before = store.room_ids()
    result = parta("sync", str(roster), "-c", str(stack.config_path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "создать пространство (space) «Школа сухого прогона»" in result.stdout
    assert "вступить (join)" in result.stdout
    assert store.room_ids() == before


def _pids_running(fragment: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if fragment in cmdline:
                pids.append(int(entry.name))
    return pids


async def test_a_killed_demo_leaves_no_server_behind(tmp_path: Path) -> None:
    state = tmp_path / "killed-demo"
    args = ["demo", "--state", str(state), "--port", str(free_port())]
    output = (tmp_path / "demo.log").open("wb")
    demo = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "parta", *args, "--appservice-port", str(free_port())],
        *["--diary-port", str(free_port())],
        *["--bridge-port", str(free_port_block(3)), "--bots-port", str(free_port())],
        cwd=ROOT,
        stdout=output,
        stderr=output,
    )
    output.close()
    for _ in range(3000):  # readiness: demo.json appears
        if (state / "demo.json").exists() or demo.returncode is not None:
            break
        await asyncio.sleep(0.05)
    said = (tmp_path / "demo.log").read_text(errors="replace")[-3000:]
    assert demo.returncode is None, f"the demo stopped before it was ready:\n{said}"
    children = _pids_running(str(state))
    # Synapse, appservice, diary, bots, the bridge and its 2 workers
    assert len(children) >= 7, f"{children}\n{said}"
    demo.kill()  # SIGKILL: no clean-up code runs in the parent
    await demo.wait()
    for _ in range(400):  # children get SIGTERM from the kernel and stop on their own
        if not _pids_running(str(state)):
            break
        await asyncio.sleep(0.05)
    assert _pids_running(str(state)) == []


def test_sync_loads_the_diary_and_people_link_shows_in_its_chats_tab(
    stack: SchoolStack, tmp_path: Path
) -> None:
    roster = tmp_path / "roster"
    write_oneroster(
        generate_school(20, seed=12, school_name="Школа командной строки", school_id="org-cli"),
        roster,
    )
    synced = parta("sync", str(roster), "-c", str(stack.config_path))
    assert synced.returncode == 0, synced.stderr
    linked = parta("people", "link", "stu-0001", "-c", str(stack.config_path))
    assert linked.returncode == 0, linked.stderr
    diary = stack.open_diary_store()
    try:
        loaded = diary.diary()
        assert loaded is not None
        assert {s.name for s in loaded.schools.values()} == {"Школа командной строки"}
        assert diary.timetable().slots  # timetable.csv came with the roster
        account = diary.account(SourcedId("stu-0001"))
    finally:
        diary.close()
    assert account is not None
    assert account.matrix_user_id == f"@parta.stu-0001:{stack.config.server_name}"


def _free_region_base() -> int:
    """A client port whose derived ports (both schools) are all free right now."""
    offsets = [
        school + offset
        for school in (0, 10)
        for offset in (0, 72, 440, 1000, 1081, 1082, 1083, 1084)
    ]
    for _ in range(100):
        # below the kernel's ephemeral range (32768+), where outgoing connections take ports
        base = 20000 + free_port() % 11000
        try:
            with contextlib.ExitStack() as held:
                for offset in offsets:
                    probe = held.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free set of ports for the region demo")


async def test_a_region_demo_starts_two_federating_schools(tmp_path: Path) -> None:
    state = tmp_path / "region-demo"
    base = _free_region_base()  # the demo derives its other ports from this one
    command = [sys.executable, "-m", "parta", "demo", "--schools", "2", "--state", str(state)]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, "--port", str(base), "--exit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((state / "demo.json").read_text(encoding="utf-8"))
    schools = data["schools"]
    assert [s["name"] for s in schools] == ["МАОУ лицей № 14", "МБОУ СОШ № 7"]
    assert schools[0]["server_name"] != schools[1]["server_name"]
    assert all(len(s["accounts"]) == 5 and s["diary"] for s in schools)
