"""Invite links: stored as digests, refused when revoked or expired, with the reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bots.commands import qr_png
from bots.invites import Invite, InviteBook, chat_name, digest, expiry, new_token

NOW = datetime(2026, 11, 28, 12, 0)


def test_a_link_works_until_it_expires_or_is_revoked(tmp_path: Path) -> None:
    book = InviteBook(tmp_path / "invites.db")
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
    raw = (tmp_path / "invites.db").read_bytes()
    assert token.encode() not in raw  # only its digest is kept
    assert digest(token).encode() in raw


def test_chat_names_and_the_qr_code() -> None:
    assert chat_name("!чат   Кружок   робототехники ") == "Кружок робототехники"
    assert chat_name("!чат") is None
    assert qr_png("https://diary.example/join/x").startswith(b"\x89PNG")
