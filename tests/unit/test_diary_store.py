"""The diary's store across roster reloads: names may move, secrets and links stay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import pytest

from appservice.diary_sync.model import Diary
from appservice.diary_sync.timetable import Timetable
from kernel.ids import SourcedId
from tests.school import small_school
from web_client.journal_plan import Kind, When, extra_slot
from web_client.store import DiaryStore

BASE = small_school("ds")


def with_people(diary: Diary, **changes: dict[str, str]) -> Diary:
    """``s1={"username": "x", "phone": "y"}``: new username and phone for ds-s1."""
    people = dict(diary.people)
    for local, fields in changes.items():
        pid = SourcedId(f"ds-{local}")
        old = people[pid]
        username, phone = fields.get("username", old.username), fields.get("phone", old.phone)
        people[pid] = replace(old, username=username, phone=phone)
    return replace(diary, people=people)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiaryStore]:
    opened = DiaryStore.open(f"sqlite:///{tmp_path / 'diary.db'}")
    yield opened
    opened.close()


def test_two_people_swapping_usernames_keep_their_passwords(store: DiaryStore) -> None:
    store.load(with_people(BASE, s1={"username": "ivanov"}, s2={"username": "petrov"}), Timetable())
    store.set_password_hash(SourcedId("ds-s1"), "hash-of-s1")
    store.load(with_people(BASE, s1={"username": "petrov"}, s2={"username": "ivanov"}), Timetable())
    moved = store.find_account("petrov")
    assert moved is not None
    assert (moved.person_id, moved.password_hash) == ("ds-s1", "hash-of-s1")


def test_a_shared_username_or_phone_identifies_nobody(store: DiaryStore) -> None:
    shared = with_people(
        BASE,
        p1={"username": "mama", "phone": "+7 900 000-00-01"},
        p2={"username": "mama", "phone": "89000000001"},
    )
    store.load(shared, Timetable())
    assert store.find_account("mama") is None
    assert store.find_account("+79000000001") is None
    assert store.find_account("ds-p1") is not None  # the id still signs in


def test_a_phone_set_when_linking_survives_a_reload_without_one(store: DiaryStore) -> None:
    store.load(BASE, Timetable())
    store.set_phone(SourcedId("ds-s3"), "+79001112233")
    store.set_matrix_user(SourcedId("ds-s3"), "@parta.ds-s3:school.test")
    store.load(BASE, Timetable())
    account = store.find_account("8 900 111-22-33")
    assert account is not None
    assert account.person_id == "ds-s3"
    assert account.matrix_user_id == "@parta.ds-s3:school.test"


def test_people_gone_from_the_roster_lose_their_accounts(store: DiaryStore) -> None:
    store.load(BASE, Timetable())
    people = {pid: p for pid, p in BASE.people.items() if pid != "ds-s6"}
    store.load(replace(BASE, people=people, guardianships=frozenset()), Timetable())
    assert store.account(SourcedId("ds-s6")) is None


def test_lessons_set_in_the_journal_survive_a_sync_and_can_move_and_go(store: DiaryStore) -> None:
    store.load(BASE, Timetable())
    at = When(date(2026, 12, 7), time(16, 0), time(16, 45))
    slot = extra_slot(SourcedId("ds-5a"), "Математика", SourcedId("ds-t1"), Kind.LESSON, at)
    store.add_extra_slot(slot, SourcedId("ds-t1"), datetime(2026, 12, 5, 9, 0))
    store.load(BASE, Timetable())  # the next night's sync replaces the timetable, not these
    (lesson,) = store.timetable().lessons(date(2026, 12, 7), 1)
    assert lesson.slot == slot
    assert store.is_extra_slot(slot.id)
    assert store.move_extra_slot(slot.id, date(2026, 12, 7), time(17, 0), time(17, 30))
    (moved,) = store.timetable().lessons(date(2026, 12, 7), 1)
    assert (moved.id, moved.slot.start, moved.slot.end) == (lesson.id, time(17, 0), time(17, 30))
    assert store.cancel_extra_slot(slot.id)
    assert not list(store.timetable().lessons(date(2026, 12, 7), 1))
    assert not store.cancel_extra_slot(slot.id)
