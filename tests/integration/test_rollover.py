"""1 September on a real Synapse: 5А's chat becomes 6А's with its history, the 11th grade's chats
are archived read-only, the new 1st grades get chats, and a re-run changes nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from appservice.diary_sync.layout import RoomKind, room_key
from appservice.diary_sync.roster import load_roster
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.ids import SourcedId
from kernel.matrix import Forbidden
from parta.stack import SchoolStack
from synthetic.school_year import generate_school_year

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCHOOL = SourcedId("org-ro")


def _generate(out: Path, year: int) -> None:
    """What an operator runs: `parta school generate --year` writes each year's export."""
    done = subprocess.run(
        [sys.executable, "-m", "parta", "school", "generate", "--students", "280"]  # noqa: RUF005
        + ["--year", str(year), "--seed", "5", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def test_a_new_school_year_moves_class_chats_archives_graduates_and_adds_first_grades(
    stack: SchoolStack, school: SchoolSync, tmp_path: Path
) -> None:
    # the CLI's school is org-1; this test's school is its own (the session's store is shared)
    years = {
        year: generate_school_year(280, year, seed=5, school_name="Школа 1", school_id=SCHOOL).diary
        for year in (2025, 2026)
    }
    await asyncio.to_thread(_generate, tmp_path / "2026", 2026)
    exported = load_roster(tmp_path / "2026")
    assert "cls-2026-6a" in exported.classes
    assert "cls-2025-5a" not in exported.classes

    first = await school.run(years[2025], SyncOptions())
    assert first.report is not None
    assert not first.report.failed
    rooms = school.store.room_ids()
    old_5a = room_key(SCHOOL, RoomKind.CLASS, SourcedId("cls-2025-5a"))
    class_room = rooms[old_5a]
    head = school.puppet_id(years[2025].class_teacher(SourcedId("cls-2025-5a")) or SourcedId(""))
    said = await school.client.send_message(
        class_room, {"msgtype": "m.text", "body": "Экскурсия в пятницу"}, "rollover-1", head
    )

    plan_only = await school.run(years[2026], SyncOptions(dry_run=True))
    kinds = {type(a).__name__ for a in plan_only.actions}
    assert {"MoveRoom", "SetSendLevel", "CreateRoom"} <= kinds
    assert school.store.room_ids() == rooms  # a dry run moves nothing

    second = await school.run(years[2026], SyncOptions())
    assert second.report is not None
    assert not second.report.failed, second.report.failed
    rooms = school.store.room_ids()
    new_6a = room_key(SCHOOL, RoomKind.CLASS, SourcedId("cls-2026-6a"))
    assert rooms[new_6a] == class_room  # the same room: its history
    assert old_5a not in rooms
    state = await school.client.state_event(class_room, "m.room.name")
    assert state["name"] == "6А — класс"
    history = await school.client.messages(class_room, 100, as_user=head)
    assert said in {e.get("event_id") for e in history}
    parents = room_key(SCHOOL, RoomKind.CLASS_PARENTS, SourcedId("cls-2026-6a"))
    assert parents in rooms

    archived_key = room_key(SCHOOL, RoomKind.CLASS, SourcedId("cls-2025-11a"))
    archived = rooms[archived_key]
    assert (await school.client.state_event(archived, "m.room.name"))["name"].endswith("(архив)")
    levels = await school.client.state_event(archived, "m.room.power_levels")
    assert levels["events_default"] == 100
    graduates_teacher = years[2025].class_teacher(SourcedId("cls-2025-11a"))
    assert graduates_teacher is not None
    with pytest.raises(Forbidden):
        await school.client.send_message(
            archived, {"msgtype": "m.text", "body": "Привет"}, "rollover-2",
            school.puppet_id(graduates_teacher),
        )  # fmt: skip
    shelf = rooms[room_key(SCHOOL, RoomKind.ARCHIVE)]
    assert (await school.client.state_event(shelf, "m.room.name"))["name"] == "Архив"
    listed = await school.client.state_event(shelf, "m.space.child", archived)
    assert listed.get("via")
    assert room_key(SCHOOL, RoomKind.CLASS, SourcedId("cls-2026-1a")) in rooms

    again = await school.run(years[2026], SyncOptions())
    assert again.actions == []
