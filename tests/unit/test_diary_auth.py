"""Sign-in, sessions, CSRF, the rate limit and password reset, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
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


def _wrong(auth: Auth, name: str, address: str | None, times: int) -> None:
    for _ in range(times):
        assert auth.sign_in(name, "неверный", address) == Refusal("Неверный логин или пароль")


def test_failures_from_one_address_back_off_one_two_four_minutes(auth: Auth, clock: Clock) -> None:
    _wrong(auth, "au-s1", "10.0.0.2", 3)  # login_attempts = 3
    waited = auth.sign_in("au-s1", "верный-пароль", "10.0.0.2")
    assert isinstance(waited, Refusal)
    assert "Слишком много неудачных попыток" in waited.message
    assert "через 1 мин" in waited.message
    for minutes in (2, 4, 8, 15, 15):  # each further failure doubles the wait, up to the cap
        clock.now += timedelta(minutes=16)
        _wrong(auth, "au-s1", "10.0.0.2", 1)
        refused = auth.sign_in("au-s1", "верный-пароль", "10.0.0.2")
        assert isinstance(refused, Refusal)
        assert f"через {minutes} мин" in refused.message, refused.message
    clock.now += timedelta(minutes=15, seconds=1)
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.2") == "au-s1"  # and it starts over
    _wrong(auth, "au-s1", "10.0.0.2", 1)
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.2") == "au-s1"


def test_another_addresss_failures_never_lock_the_account_out(auth: Auth) -> None:
    for _ in range(3 * 5):  # somebody else keeps guessing, and is kept waiting
        assert isinstance(auth.sign_in("au-s1", "неверный", "10.0.0.66"), Refusal)
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.3") == "au-s1"


def test_guessing_from_many_addresses_backs_the_account_off_everywhere(auth: Auth) -> None:
    for n in range(3 * 10):  # SPREAD times one address's allowance, one failure each
        _wrong(auth, "au-s1", f"10.1.{n}.1", 1)
    refused = auth.sign_in("au-s1", "верный-пароль", "10.9.9.9")
    assert isinstance(refused, Refusal)
    assert "неудачных попыток" in refused.message


def test_only_a_browser_the_account_itself_signed_in_from_is_spared_that(
    auth: Auth, store: DiaryStore
) -> None:
    store.set_password_hash(SourcedId("au-s2"), auth.hash_password("пароль-второго"))
    mine = auth.known_cookie(SourcedId("au-s1"), None)
    family = auth.known_cookie(SourcedId("au-s2"), mine)  # a shared tablet knows both
    for n in range(3 * 10):
        _wrong(auth, "au-s1", f"10.1.{n}.1", 1)
    assert auth.sign_in("au-s1", "верный-пароль", "10.9.9.9", mine) == "au-s1"
    assert auth.sign_in("au-s1", "верный-пароль", "10.9.9.9", family) == "au-s1"
    for other in (
        auth.known_cookie(SourcedId("au-s2"), None),  # another account's browser
        mine[:-2] + ("AA" if not mine.endswith("AA") else "BB"),  # altered
        Auth(store, "x" * 48, DiaryConfig(), lambda: datetime(2026, 11, 30)).known_cookie(
            SourcedId("au-s1"), None
        ),  # made with another key
        "garbage",
    ):
        assert isinstance(auth.sign_in("au-s1", "верный-пароль", "10.9.9.9", other), Refusal)
    crowded = mine
    for n in range(4):  # only the last four accounts of a browser are kept
        crowded = auth.known_cookie(SourcedId(f"au-x{n}"), crowded)
    assert isinstance(auth.sign_in("au-s1", "верный-пароль", "10.9.9.9", crowded), Refusal)
    assert "au-s1" not in mine  # no person's id in the cookie


def test_the_back_off_follows_the_account_whatever_spelling_of_its_phone(
    store: DiaryStore, auth: Auth
) -> None:
    diary = small_school("au")
    parent = diary.people[SourcedId("au-p1")]
    people = {**diary.people, parent.id: replace(parent, phone="+7 912 661 42 42")}
    store.load(replace(diary, people=people), Timetable())
    store.set_password_hash(parent.id, auth.hash_password("пароль-мамы"))
    _wrong(auth, "+7 912 661 42 42", "10.0.0.5", 3)
    refused = auth.sign_in("8 (912) 661-42-42", "пароль-мамы", "10.0.0.5")
    assert isinstance(refused, Refusal)
    assert "неудачных попыток" in refused.message


def test_random_names_from_one_address_slow_it_down_but_lock_nobody_out(
    auth: Auth, store: DiaryStore, clock: Clock
) -> None:
    store.set_password_hash(SourcedId("au-p1"), auth.hash_password("пароль-мамы"))
    for n in range(60):  # twenty times login_attempts: then one attempt every few seconds
        refused = auth.sign_in(f"кто-то-{n}", "неверный", "10.0.0.7")
        assert refused == Refusal("Неверный логин или пароль")
    slowed = auth.sign_in("au-p1", "пароль-мамы", "10.0.0.7")
    assert isinstance(slowed, Refusal)
    assert slowed.retry_after is not None
    assert "с вашего адреса" in slowed.message
    clock.now += timedelta(seconds=slowed.retry_after)
    assert auth.sign_in("au-p1", "пароль-мамы", "10.0.0.7") == "au-p1"  # slowed, not locked
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.8") == "au-s1"


def test_each_matrix_login_has_its_own_count(auth: Auth, store: DiaryStore) -> None:
    store.set_password_hash(SourcedId("au-s2"), auth.hash_password("пароль-второго"))
    for n in range(61):  # everybody's Matrix logins reach the diary from Synapse's address
        auth.sign_in(f"кто-то-{n}", "неверный", None)
    _wrong(auth, "au-s1", None, 3)
    assert isinstance(auth.sign_in("au-s1", "верный-пароль", None), Refusal)
    assert auth.sign_in("au-s2", "пароль-второго", None) == "au-s2"
    assert auth.sign_in("au-s1", "верный-пароль", "10.0.0.9") == "au-s1"  # the web is apart


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


def test_a_reset_voids_every_older_unused_link(auth: Auth) -> None:
    older = auth.new_reset(SourcedId("au-s1"))
    newer = auth.new_reset(SourcedId("au-s1"))
    assert auth.reset_password(newer, "новый-пароль-1") == "au-s1"
    stale = auth.reset_password(older, "чужой-пароль-2")
    assert isinstance(stale, Refusal)
    assert "уже использована" in stale.message
    assert auth.sign_in("au-s1", "новый-пароль-1", "10.0.0.4") == "au-s1"


def test_reset_mails_are_a_few_an_hour_per_account_and_per_address(
    auth: Auth, clock: Clock
) -> None:
    s1, s2 = SourcedId("au-s1"), SourcedId("au-s2")
    assert [auth.may_mail_reset(s1, "10.0.0.1") for _ in range(4)] == [True] * 3 + [False]
    assert not auth.may_mail_reset(s1, "10.0.0.2")  # the account's allowance, wherever from
    for n in range(7):
        assert auth.may_mail_reset(SourcedId(f"x-{n}"), "10.0.0.1") is (n < 7)
    assert not auth.may_mail_reset(s2, "10.0.0.1")  # the address has asked ten times
    assert auth.may_mail_reset(s2, "10.0.0.3")
    clock.now += timedelta(hours=1, seconds=1)
    assert auth.may_mail_reset(s1, "10.0.0.1")


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


def test_a_letters_code_works_once_until_it_expires_and_a_new_letter_voids_it(
    auth: Auth, clock: Clock
) -> None:
    code = auth.new_activation(SourcedId("au-p1"))
    assert len(code) == 12
    typed = "-".join(code[i : i + 4] for i in range(0, 12, 4)).lower()  # as printed, lower case
    assert auth.activation_target(typed, "10.0.0.1") == "au-p1"
    short = auth.activate(code, "short", "10.0.0.1")
    assert isinstance(short, Refusal)
    assert auth.activate(typed, "пароль-родителя", "10.0.0.1") == "au-p1"
    assert auth.sign_in("au-p1", "пароль-родителя", "10.0.0.1") == "au-p1"
    again = auth.activate(code, "другой-пароль", "10.0.0.1")
    assert isinstance(again, Refusal)
    assert "уже использован" in again.message
    first, second = auth.new_activation(SourcedId("au-p2")), auth.new_activation(SourcedId("au-p2"))
    assert isinstance(auth.activation_target(first, "10.0.0.1"), Refusal)  # reprinted: void
    clock.now += timedelta(days=31)
    expired = auth.activation_target(second, "10.0.0.1")
    assert isinstance(expired, Refusal)
    assert "истёк" in expired.message


def test_guessing_codes_slows_the_address_down(auth: Auth) -> None:
    for n in range(3):  # login_attempts
        refused = auth.activation_target(f"WRONGCODE{n:03d}", "10.0.0.9")
        assert isinstance(refused, Refusal)
        assert refused.retry_after is None
    slowed = auth.activation_target("WRONGCODE999", "10.0.0.9")
    assert isinstance(slowed, Refusal)
    assert slowed.retry_after is not None
