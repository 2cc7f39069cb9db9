"""``!собрание``: what a member of staff may write, and what they are told otherwise."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from bots.lesson_posts import span
from bots.meetings import CommandError, Meeting, parse
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
