"""A running diary (web_client process) with a small school and a timetable around now.

The school's time zone is chosen so that it is about noon there whatever the hour
here, so lessons "five minutes ago" and "in two hours" fall on the same day.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from appservice.diary_sync.model import Diary
from appservice.diary_sync.timetable import Slot, Timetable
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.config import DiaryConfig, MetricsConfig, SchoolConfig
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from tests.ports import free_port, free_port_block
from tests.school import small_school
from web_client.store import DiaryStore

PASSWORD = "пароль-для-тестов"


def noon_zone() -> str:
    offset = 12 - datetime.now(UTC).hour
    if offset > 14:
        offset -= 24
    if offset < -12:
        offset += 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs are inverted


@dataclass(frozen=True)
class DiarySite:
    url: str
    config: SchoolConfig
    diary: Diary
    timetable: Timetable
    prefix: str
    day: date

    def sid(self, local: str) -> SourcedId:
        return SourcedId(f"{self.prefix}-{local}")

    def open_now(self) -> str:
        return f"{self.sid('open')}@{self.day.isoformat()}"

    def later(self) -> str:
        return f"{self.sid('later')}@{self.day.isoformat()}"


def next_school_day(day: date) -> date:
    """Tomorrow, or Monday when tomorrow is Sunday."""
    step = 2 if day.isoweekday() == 6 else 1
    return day + timedelta(days=step)


def _timetable(prefix: str, now: datetime) -> Timetable:
    def sid(local: str) -> SourcedId:
        return SourcedId(f"{prefix}-{local}")

    def at(minutes: int) -> datetime:
        return now + timedelta(minutes=minutes)

    def slot(name: str, start: int, end: int, distance: bool, weekday: int | None = None) -> Slot:
        day = None if weekday else now.date()
        return Slot(
            sid(name),
            sid("5a-math"),
            at(start).time().replace(second=0, microsecond=0),
            at(end).time().replace(second=0, microsecond=0),
            "Математика",
            sid("t4"),
            "каб. 21",
            distance,
            day,
            weekday,
        )

    weekday = next_school_day(now.date()).isoweekday()  # a plain lesson every week
    return Timetable(
        (
            slot("open", -5, 40, True),
            slot("later", 120, 165, True),
            slot("plain", -180, -135, False, weekday=weekday),
        )
    )


@contextmanager
def running_diary(base: SchoolConfig, state: Path, prefix: str) -> Iterator[DiarySite]:
    zone = noon_zone()
    config = base.model_copy(
        update={
            "state_dir": state,
            # as deployed: nginx on the same host says who the client really is
            "diary": DiaryConfig(port=free_port(), timezone=zone, trusted_proxies=("127.0.0.1",)),
            # its own ports: the school's diary serves the school's
            "metrics": MetricsConfig(enabled=True, first_port=free_port_block(7)),
        }
    )
    school = small_school(prefix)
    people = {
        pid: replace(person, email=f"{pid}@school.test") for pid, person in school.people.items()
    }
    mother = SourcedId(f"{prefix}-p3")  # like most parents: a phone, no e-mail
    people[mother] = replace(people[mother], email="", phone="+7 912 000-00-03")
    diary = replace(school, people=people)
    now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    timetable = _timetable(prefix, now)
    store = DiaryStore.open(config.diary_store_url())
    try:
        store.load(diary, timetable)
        hashed = PasswordHasher().hash(PASSWORD)
        for person in diary.people:
            store.set_password_hash(person, hashed)
    finally:
        store.close()
    if base.diary_api_token_file.exists():  # the school's call bridge knows the diary by it
        config.secrets_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base.diary_api_token_file, config.diary_api_token_file)
    if base.link_token_file.exists():  # and the school's appservice by this one
        config.secrets_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base.link_token_file, config.link_token_file)
    stack = SchoolStack.for_config(config)
    try:
        stack.start_diary()
        yield DiarySite(config.diary_url, config, diary, timetable, prefix, now.date())
    finally:
        stack.stop()


async def serve_school(stack: SchoolStack, school: SchoolSync, diary: Diary, password: str) -> None:
    """Sync ``diary`` into the session's school and give every person a diary password."""
    await school.run(diary, SyncOptions())  # also keeps it as the appservice's diary
    diary_store = stack.open_diary_store()
    try:
        diary_store.load(diary, Timetable())
        hashed = PasswordHasher().hash(password)
        for person in diary.people:
            diary_store.set_password_hash(person, hashed)
    finally:
        diary_store.close()
