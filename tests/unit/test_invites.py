"""Invite links: stored as digests, refused when revoked or expired, with the reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bots.chat_feature import qr_png
from bots.invites import (
    Audience,
    Invite,
    InviteBook,
    chat_name,
    expiry,
    new_token,
    parse_chat,
)
from kernel.secrets import token_digest

NOW = datetime(2026, 11, 28, 12, 0)


def test_a_link_works_until_it_expires_or_is_revoked(tmp_path: Path) -> None:
    book = InviteBook(f"sqlite:///{tmp_path / 'invites.db'}")
    token = new_token()
    book.add(token, Invite("!chat", "Кружок", "@t:s", expiry(NOW), False))
    found = book.find(token)
    assert found is not None
    assert found.refusal(NOW) is None
    assert found.refusal(NOW + timedelta(days=7)) is not None  # «Срок действия ссылки истёк»
    assert book.find(new_token()) is None
    assert book.revoke_room("!chat") == 1
    revoked = book.find(token)
    assert revoked is not None
    assert "отозвана" in (revoked.refusal(NOW) or "")
    book.close()  # the write-ahead log goes back into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("invites.db*"))
    assert token.encode() not in raw  # only its digest is kept
    assert token_digest(token).encode() in raw


def test_chat_names_and_the_qr_code() -> None:
    assert chat_name("!чат   Кружок   робототехники ") == "Кружок робототехники"
    assert chat_name("!чат") is None
    assert qr_png("https://diary.example/join/x").startswith(b"\x89PNG")


def test_a_link_may_be_for_students_parents_teachers_or_the_chat_it_was_asked_in() -> None:
    assert parse_chat("!чат Кружок робототехники") == ("Кружок робототехники", Audience.ALL)
    assert parse_chat("!чат Совет родителей для родителей") == (
        "Совет родителей",
        Audience.PARENTS,
    )
    assert parse_chat("!чат  Олимпиада  ДЛЯ УЧЕНИКОВ") == ("Олимпиада", Audience.STUDENTS)
    assert parse_chat("!чат Экскурсия для класса") == ("Экскурсия", Audience.CHAT)
    assert parse_chat("!чат для родителей") is None  # a name is needed
    assert parse_chat("!чат Помощь для родителей первоклассников") == (
        "Помощь для родителей первоклассников",
        Audience.ALL,
    )  # only the exact ending is an audience
    later = datetime(2026, 12, 1)
    parents = Invite("!r", "Совет", "@t:s", later, False, Audience.PARENTS, "!class")
    assert parents.not_for("parent", False) is None
    assert parents.not_for("student", True) == "Эта ссылка — для родителей"
    assert parents.not_for(None, True) == "Эта ссылка — для родителей"
    staff = Invite("!r", "Методсовет", "@t:s", later, False, Audience.STAFF, "!class")
    assert staff.not_for("administrator", False) is None
    chat = Invite("!r", "Экскурсия", "@t:s", later, False, Audience.CHAT, "!class")
    assert chat.not_for("student", True) is None
    assert chat.not_for("student", False) is not None
    assert Invite("!r", "Все", "@t:s", later, False).not_for(None, False) is None


def test_links_made_before_audiences_still_open_for_everybody(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "invites.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(
        "CREATE TABLE invites (digest TEXT PRIMARY KEY, room_id TEXT NOT NULL,"
        " name TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT NOT NULL,"
        " revoked INTEGER NOT NULL DEFAULT 0)"
    )
    old.execute(
        "INSERT INTO invites VALUES (?, '!r', 'Кружок', '@t:s', '2026-12-01T00:00:00', 0)",
        (token_digest("old-token"),),
    )
    old.close()
    book = InviteBook(f"sqlite:///{path}")
    found = book.find("old-token")
    assert found is not None
    assert found.audience is Audience.ALL
    assert found.not_for(None, False) is None
    book.add("new", Invite("!n", "Совет", "@t:s", datetime(2026, 12, 1), False, Audience.PARENTS))
    again = book.find("new")
    assert again is not None
    assert again.audience is Audience.PARENTS
