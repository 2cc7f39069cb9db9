"""``!собрание``: what a member of staff may write, and what they are told otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bots.lesson_posts import span
from bots.meeting_feature import MeetingBook
from bots.meetings import CommandError, Meeting, needs_reminder, parse
from bots.meetings_api import _meeting
from kernel.contracts.bots import MeetingRequest

NOW = datetime(2026, 11, 28, 12, 0)


def test_a_meeting_in_the_same_year_with_the_default_length() -> None:
    meeting = parse("!собрание 30.11 18:00 Итоги четверти", NOW)
    assert meeting == Meeting("Итоги четверти", datetime(2026, 11, 30, 18, 0),
                              datetime(2026, 11, 30, 18, 45))  # fmt: skip
    assert meeting.text("https://calls/room/!r") == (
        "Родительское собрание: Итоги четверти, 30 ноября, 18:00–18:45 — "
        "Присоединиться: https://calls/room/!r"
    )


def test_a_length_a_year_and_a_date_early_next_year() -> None:
    assert parse("!собрание 30.11.2026 18:00 60 Экзамены", NOW).ends_at == datetime(
        2026, 11, 30, 19, 0
    )
    assert parse("!собрание 15.01 18:00", NOW).starts_at == datetime(2027, 1, 15, 18, 0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("!собрание завтра", "Как назначить собрание"),
        ("!собрание 31.02 18:00", "Такой даты"),
        ("!собрание 28.11 11:00", "уже прошло"),
        ("!собрание 30.11 18:00 300 Долго", "от 5 до 240"),
    ],
)
def test_bad_commands_are_explained(text: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        parse(text, NOW)


def _asked(fields: dict[str, str]) -> MeetingRequest:
    return MeetingRequest.model_validate({"key": "k", "organiser": "@t:s", **fields})


def test_the_diarys_meeting_request_is_checked_by_the_bots_too() -> None:
    now = datetime(2026, 11, 29, 12, 0)
    fine = _meeting(
        _asked(
            {
                "title": " Итоги ",
                "starts_at": "2026-11-30T18:00:00",
                "ends_at": "2026-11-30T18:45:00",
            }
        ),
        now,
    )
    assert fine.title == "Итоги"
    assert fine.when() == span(datetime(2026, 11, 30, 18, 0), datetime(2026, 11, 30, 18, 45))
    for bad in (
        {"title": "", "starts_at": "2026-11-30T18:00:00", "ends_at": "2026-11-30T18:45:00"},
        {"title": "x", "starts_at": "2026-11-28T18:00:00", "ends_at": "2026-11-28T18:45:00"},
        {"title": "x", "starts_at": "2026-11-30T18:00:00", "ends_at": "2026-11-30T17:00:00"},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - each is a plain ValueError with its reason
            _meeting(_asked(bad), now)
    with pytest.raises(ValidationError):  # not a time at all: the contract refuses it
        _asked({"title": "x", "starts_at": "завтра", "ends_at": "2026-11-30T17:00:00"})


def test_a_meeting_now_starts_at_this_minute() -> None:
    """Issue 21, item 5: a meeting may start now — the call is open at once."""
    now = datetime(2026, 11, 28, 12, 7, 31)
    assert parse("!собрание сейчас", now) == Meeting(
        "собрание", datetime(2026, 11, 28, 12, 7), datetime(2026, 11, 28, 12, 52)
    )
    assert parse("!собрание сейчас 20 Срочный вопрос", now) == Meeting(
        "Срочный вопрос", datetime(2026, 11, 28, 12, 7), datetime(2026, 11, 28, 12, 27)
    )
    with pytest.raises(CommandError, match="от 5 до 240"):
        parse("!собрание сейчас 500", now)


def test_the_diarys_meeting_now_reaches_the_bots_a_moment_later() -> None:
    started = {"title": "Сейчас", "starts_at": "2026-11-29T12:00:00"}
    assert _meeting(_asked({**started, "ends_at": "2026-11-29T12:45:00"}),
                    datetime(2026, 11, 29, 12, 0, 40)).title == "Сейчас"  # fmt: skip
    with pytest.raises(ValueError):  # noqa: PT011 - long begun is not "now"
        _meeting(
            _asked({**started, "ends_at": "2026-11-29T12:45:00"}), datetime(2026, 11, 29, 12, 9)
        )


def test_an_invitation_that_comes_late_is_its_own_reminder(tmp_path: Path) -> None:
    now, before = datetime(2026, 11, 28, 12, 0), timedelta(minutes=15)
    at_once = parse("!собрание сейчас Срочно", now)
    tomorrow = parse("!собрание 29.11 18:00 Итоги", now)
    assert not needs_reminder(at_once, now, before)
    assert needs_reminder(tomorrow, now, before)
    book = MeetingBook(f"sqlite:///{tmp_path / 'bots.db'}")
    try:
        book.add("now", "!r:s", at_once, "https://calls/room/!r:s", reminded=True)
        book.add("later", "!r:s", tomorrow, "https://calls/room/!r:s", reminded=False)
        assert book.due(now, before) == []
        assert [d[0] for d in book.due(datetime(2026, 11, 29, 17, 50), before)] == ["later"]
    finally:
        book.close()
