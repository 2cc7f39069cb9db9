"""``parta demo`` (what ``make demo`` runs): a whole school on embedded defaults.

Loads the demo school shipped in ``demo/school`` (OneRoster 1.2 CSV), starts
Synapse (SQLite) and the appservice, syncs, links one person of each role,
writes ``var/demo/demo.json`` with their tokens and rooms, and stays in the
foreground until Ctrl-C or SIGTERM, then stops every child cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from appservice.diary_sync.layout import RoomKind, layout_diary, lesson_room
from appservice.diary_sync.model import ClassKind, Diary, EnrollmentRole, Role
from appservice.diary_sync.roster import RosterError, load_roster
from appservice.diary_sync.timetable import Lesson, Slot, Timetable
from appservice.school_sync import SchoolSync, SyncOptions, SyncResult
from kernel.children import wait_for_signal
from kernel.config import (
    AppserviceConfig,
    BotsConfig,
    CallBridgeConfig,
    DiaryConfig,
    HomeserverConfig,
    MetricsConfig,
    SchoolConfig,
)
from kernel.ids import RoomAlias, ServerName, SourcedId, room_alias
from parta.diary_load import read_timetable, store_diary
from parta.stack import SchoolStack, StackError
from web_client.journal_plan import Kind, When, extra_slot
from web_client.store import DiaryStore


@dataclass(frozen=True)
class DemoPerson:
    role: str
    person: SourcedId


def pick_demo_people(diary: Diary) -> list[DemoPerson]:
    """A student with a parent, their class teacher, a subject teacher, an administrator."""
    homeroom_of = {
        e.person_id: e.class_id
        for e in sorted(diary.enrollments, key=lambda e: (e.class_id, e.person_id))
        if e.role is EnrollmentRole.STUDENT and diary.classes[e.class_id].kind is ClassKind.HOMEROOM
    }
    parents = {g.student_id: g.parent_id for g in sorted(diary.guardianships, key=str)}
    student = next(s for s in sorted(homeroom_of) if s in parents)
    homeroom = homeroom_of[student]
    head = diary.class_teacher(homeroom)
    teachers = sorted(p for p, x in diary.people.items() if x.role is Role.TEACHER and p != head)
    admins = sorted(p for p, x in diary.people.items() if x.role is Role.ADMINISTRATOR)
    chosen = [
        DemoPerson("student", student),
        DemoPerson("parent", parents[student]),
        DemoPerson("class_teacher", head or teachers[0]),
        DemoPerson("teacher", teachers[0]),
        DemoPerson("administrator", admins[0]),
    ]
    return chosen


def demo_config(
    state: Path,
    port: int,
    appservice_port: int | None,
    diary_port: int | None = None,
    bridge_port: int | None = None,
    bots_port: int | None = None,
    metrics_port: int | None = None,
) -> SchoolConfig:
    return SchoolConfig(
        server_name=f"localhost:{port}",
        state_dir=state,
        homeserver=HomeserverConfig(client_port=port),
        appservice=AppserviceConfig(port=appservice_port or port + 1000),
        diary=DiaryConfig(port=diary_port or port + 72),
        call_bridge=CallBridgeConfig(port=bridge_port or port + BRIDGE_OFFSET),
        bots=BotsConfig(port=bots_port or port + BOTS_OFFSET, poll_seconds=10),
        metrics=MetricsConfig(enabled=True, first_port=metrics_port or port + METRICS_OFFSET),
    )


METRICS_OFFSET = 1392
"""The first metrics port at the client port + 1392 (9400): Synapse, then the others."""
BRIDGE_OFFSET = 1082
DEMO_LESSON_AFTER = timedelta(minutes=5)
DEMO_LESSON_LENGTH = timedelta(hours=2)
"""The call bridge's front at the client port + 1082 (9090), its workers next to it."""
BOTS_OFFSET = 1081


def demo_lesson(diary: Diary, people: list[DemoPerson], now: datetime) -> Slot | None:
    """A distance lesson of the demo student's class set in the journal: it starts a few
    minutes from now (its window is open at once) and lasts two hours, so it shows in the
    student's week and can be tried while the demo runs (cut at midnight: lessons keep to
    their day)."""
    student = next((d.person for d in people if d.role == "student"), None)
    classes = sorted(
        e.class_id
        for e in diary.enrollments
        if e.person_id == student
        and e.role is EnrollmentRole.STUDENT
        and diary.classes[e.class_id].kind is ClassKind.SCHEDULED
    )
    for class_id in classes:
        teacher = next(
            (
                e.person_id
                for e in sorted(diary.enrollments, key=lambda e: e.person_id)
                if e.class_id == class_id and e.role is not EnrollmentRole.STUDENT
            ),
            None,
        )
        if teacher is not None and lesson_room(diary, class_id) is not None:
            starts = now.replace(second=0, microsecond=0) + DEMO_LESSON_AFTER
            ends = min(starts + DEMO_LESSON_LENGTH, starts.replace(hour=23, minute=59))
            if ends <= starts:  # the demo started at 23:55: the lesson is tomorrow morning
                starts = (starts + timedelta(days=1)).replace(hour=9, minute=0)
                ends = starts + DEMO_LESSON_LENGTH
            at = When(starts.date(), starts.time(), ends.time())
            subject = diary.classes[class_id].subject or diary.classes[class_id].title
            return extra_slot(class_id, subject, teacher, Kind.LESSON, at)
    return None


async def set_up(
    stack: SchoolStack, diary: Diary, timetable: Timetable | None, eager: bool
) -> dict[str, Any]:
    client = stack.client()
    store = stack.open_store()
    diary_store = stack.open_diary_store()
    try:
        school = stack.school_sync(client, store)
        _complete(await school.run(diary, SyncOptions(eager=eager)))
        region = stack.region_sync(client, store)
        if region is not None:
            await region.run(diary)
        store_diary(diary_store, diary, timetable)
        accounts = []
        people = pick_demo_people(diary)
        zone = ZoneInfo(stack.config.diary.timezone)
        slot = demo_lesson(diary, people, datetime.now(zone).replace(tzinfo=None))
        lessons = []
        if slot is not None and slot.day is not None and slot.teacher_id is not None:
            diary_store.add_extra_slot(slot, slot.teacher_id, datetime.now(UTC))
            lesson = Lesson(slot, slot.day)
            room = lesson_room(diary, slot.class_id)
            lessons.append(
                {
                    "lesson_id": lesson.id,
                    "class": diary.classes[slot.class_id].title,
                    "subject": slot.subject,
                    "start": lesson.starts_at.isoformat(timespec="minutes"),
                    "end": lesson.ends_at.isoformat(timespec="minutes"),
                    "room": room_alias(room, ServerName(stack.config.server_name))
                    if room
                    else None,
                    "join_url": f"{stack.config.call_url}/lesson/{quote(lesson.id)}",
                }
            )
        for demo in people:
            _complete(await school.link(diary, demo.person, None, SyncOptions(eager=eager)))
            account = await _account(school, diary, demo)
            account.update(_diary_login(diary_store, demo.person))
            diary_store.set_matrix_user(demo.person, str(account["user_id"]))
            accounts.append(account)
        return {
            "name": next(iter(diary.schools.values())).name,
            "homeserver": stack.config.homeserver_url,
            "server_name": stack.config.server_name,
            "diary": stack.config.diary_url,
            "call_bridge": stack.config.call_bridge_url,
            "metrics": stack.config.metrics_urls,
            "lessons": lessons,
            "accounts": accounts,
        }
    finally:
        diary_store.close()
        store.close()
        await client.aclose()


def _diary_login(store: DiaryStore, person: SourcedId) -> dict[str, str]:
    """A fresh random password per demo run, printed and written to demo.json."""
    account = store.account(person)
    if account is None:
        raise StackError(f"{person} has no diary account")
    password = secrets.token_urlsafe(9)
    store.set_password_hash(person, PasswordHasher().hash(password))
    return {"login": account.login, "password": password}


def _complete(result: SyncResult) -> None:
    failed = [] if result.report is None else result.report.failed
    if failed:
        action, error = failed[0]
        raise StackError(f"{len(failed)} sync action(s) failed, first: {action}: {error}")


async def _account(school: SchoolSync, diary: Diary, demo: DemoPerson) -> dict[str, Any]:
    user = school.puppet_id(demo.person)
    token = await school.client.login_as(user)
    return {
        "role": demo.role,
        "name": diary.people[demo.person].display_name,
        "person_id": demo.person,
        "user_id": user,
        "access_token": token,
        "rooms": rooms_of(diary, demo.person, school.server),
    }


def rooms_of(diary: Diary, person: SourcedId, server: ServerName) -> list[RoomAlias]:
    return [
        room_alias(spec.key, server)
        for layout in layout_diary(diary)
        for spec in layout.rooms
        if person in spec.members
    ]


def run_demo(args: argparse.Namespace) -> int:
    try:
        diary = load_roster(args.roster)
        timetable = read_timetable(args.roster, diary)
    except RosterError as e:
        for problem in e.problems:
            print(problem)
        return 1
    config = demo_config(
        args.state.resolve(),
        args.port,
        args.appservice_port,
        args.diary_port,
        args.bridge_port,
        args.bots_port,
        args.metrics_port,
    )
    try:
        with SchoolStack.for_config(config) as stack:
            data = asyncio.run(set_up(stack, diary, timetable, args.eager))
            out = write_demo_json(args.state, data)
            _print_welcome(data, out, diary)
            if not args.exit:
                wait_for_signal()
    except StackError as e:
        print(f"parta demo: {e}")
        return 2
    print("Остановлено (stopped).")
    return 0


def write_demo_json(state: Path, data: dict[str, Any]) -> Path:
    """``state/demo.json``, readable by its owner only: it holds tokens and passwords."""
    out = state / "demo.json"
    part = state / "demo.json.part"  # whole or absent: a reader never sees it half written
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, ensure_ascii=False, indent=2))
    part.replace(out)
    return out


def _print_welcome(data: dict[str, Any], out: Path, diary: Diary) -> None:
    rooms = sum(len(layout.rooms) for layout in layout_diary(diary))
    kinds = ", ".join(kind.value for kind in RoomKind)
    print(f"Демо-школа готова (demo school ready): {data['homeserver']}  ({data['server_name']})")
    print(f"  людей (people): {len(diary.people)}; чатов и пространств (rooms): {rooms} ({kinds})")
    print(f"  Дневник (diary): {data['diary']}   логин / пароль (login / password):")
    for account in data["accounts"]:
        print(
            f"  - {account['role']:<14} {account['name']:<28} "
            f"{account['login']} / {account['password']}   {account['user_id']}"
        )
    for lesson in data.get("lessons", []):
        print(
            f"  Дистанционный урок (a distance lesson) {lesson['start'][11:]}–"
            f"{lesson['end'][11:]}: {lesson['subject']}, {lesson['class']} — "
            f"{lesson['join_url']}"
        )
    print(f"  Учётные записи и токены (accounts and tokens): {out}")
    print("Подключите любой Matrix-клиент к homeserver с токеном из demo.json.")
    print("Ctrl-C — остановить (stop).")
