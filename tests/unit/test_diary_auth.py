"""Sign-in, sessions, CSRF, the rate limit and password reset, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from appservice.diary_sync.timetable import Timetable
from kernel.config import DiaryConfig
from kernel.ids import SourcedId
from tests.school import small_school
from web_client.auth import Auth, Refusal
from web_client.store import DiaryStore, normalize_phone


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 9, 0))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DiaryStore]:
    opened = DiaryStore.open(f"sqlite:///{tmp_path / 'diary.db'}")
    opened.load(small_school("au"), Timetable())
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store: DiaryStore, clock: Clock) -> Auth:
    config = DiaryConfig(login_attempts=3, lockout_minutes=15, reset_minutes=60)
    made = Auth(store, "k" * 48, config, clock)
    store.set_password_hash(SourcedId("au-s1"), made.hash_password("верный-пароль"))
    return made


def test_the_right_password_signs_in_and_a_wrong_one_is_refused(auth: Auth) -> None:
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.1") == "au-s1"
    assert auth.sign_in("AU-S1", "верный-пароль", "10.0.0.1") == "au-s1"  # case-blind login
    assert auth.sign_in("au-s1", "неверный", "10.0.0.1") == Refusal("Неверный логин или пароль")
    assert isinstance(auth.sign_in("nobody", "верный-пароль", "10.0.0.1"), Refusal)
    assert isinstance(auth.sign_in("au-s2", "", "10.0.0.1"), Refusal)  # no password set yet
    assert isinstance(auth.sign_in("au-s1\0", "верный-пароль", "10.0.0.1"), Refusal)


def test_stored_passwords_are_argon2id_hashes(store: DiaryStore, auth: Auth) -> None:
    account = store.account(SourcedId("au-s1"))
    assert account is not None
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$")
    assert "верный-пароль" not in account.password_hash


def test_repeated_failures_lock_the_login_until_the_window_passes(auth: Auth, clock: Clock) -> None:
    for _ in range(3):
        assert auth.sign_in("au-s1", "неверный", "10.0.0.2") == Refusal("Неверный логин или пароль")
    locked = auth.sign_in("au-s1", "верный-пароль", "10.0.0.3")
    assert isinstance(locked, Refusal)
    assert "Слишком много неудачных попыток" in locked.message
    assert "15 мин" in locked.message
    clock.now += timedelta(minutes=15, seconds=1)
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.3") == "au-s1"


def test_sessions_refuse_forged_altered_expired_and_closed_cookies(
    auth: Auth, clock: Clock
) -> None:
    session = auth.open_session(SourcedId("au-s1"), remember=False)
    assert session.max_age is None  # ends with the browser
    assert auth.session_person(session.cookie) == "au-s1"
    token, _, signature = session.cookie.rpartition(".")
    assert auth.session_person(f"{token}.{signature[::-1]}") is None
    assert auth.session_person(f"{token[:-1]}x.{signature}") is None
    assert auth.session_person("made-up") is None
    clock.now += timedelta(hours=12, seconds=1)
    assert auth.session_person(session.cookie) is None
    remembered = auth.open_session(SourcedId("au-s1"), remember=True)
    assert remembered.max_age == 30 * 24 * 3600
    clock.now += timedelta(days=29)
    assert auth.session_person(remembered.cookie) == "au-s1"
    auth.close_session(remembered.cookie)
    assert auth.session_person(remembered.cookie) is None


def test_csrf_field_must_match_the_cookie(auth: Auth) -> None:
    cookie = auth.new_csrf_cookie()
    field_value = auth.csrf_field(cookie)
    assert auth.csrf_ok(cookie, field_value)
    assert not auth.csrf_ok(cookie, None)
    assert not auth.csrf_ok(None, field_value)
    assert not auth.csrf_ok(auth.new_csrf_cookie(), field_value)
    assert not auth.csrf_ok(cookie, cookie)  # unsigned


def test_a_reset_link_works_once_and_not_after_it_expires(auth: Auth, clock: Clock) -> None:
    session = auth.open_session(SourcedId("au-s1"), remember=True)
    token = auth.new_reset(SourcedId("au-s1"))
    short = auth.reset_password(token, "short")
    assert isinstance(short, Refusal)
    assert "не короче 8" in short.message
    assert auth.reset_password(token, "новый-пароль-1") == "au-s1"
    assert auth.sign_in("au-s1", "новый-пароль-1", "10.0.0.4") == "au-s1"
    assert auth.session_person(session.cookie) is None  # old sessions end with the old password
    again = auth.reset_password(token, "новый-пароль-2")
    assert isinstance(again, Refusal)
    assert "уже использована" in again.message
    late = auth.new_reset(SourcedId("au-s1"))
    clock.now += timedelta(minutes=61)
    expired = auth.reset_password(late, "новый-пароль-3")
    assert isinstance(expired, Refusal)
    assert "истёк" in expired.message
    assert isinstance(auth.reset_password("forged", "новый-пароль-4"), Refusal)


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("+7 (952) 841-23-74", "+79528412374"),
        ("89528412374", "+79528412374"),
        ("79528412374", "+79528412374"),
        ("12345", None),
    ],
)
def test_phone_numbers_are_normalised(typed: str, phone: str | None) -> None:
    assert normalize_phone(typed) == phone
