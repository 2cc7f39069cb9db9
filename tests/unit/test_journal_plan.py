"""«Назначить урок»: the form's date and times checked before anything is stored."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from kernel.ids import SourcedId
from web_client.journal_plan import Kind, Refusal, When, extra_slot, when

NOW = datetime(2026, 12, 5, 12, 0)


def test_a_time_later_today_is_taken() -> None:
    assert when("2026-12-05", "12:30", "13:15", NOW) == When(
        date(2026, 12, 5), time(12, 30), time(13, 15)
    )


def test_a_lesson_already_going_on_may_still_be_set() -> None:
    assert isinstance(when("2026-12-05", "11:50", "12:30", NOW), When)


@pytest.mark.parametrize(
    ("day", "start", "end", "reason"),
    [
        ("", "12:30", "13:00", "Укажите дату"),
        ("2026-12-05", "", "13:00", "Укажите дату"),
        ("05.12.2026", "12:30", "13:00", "Укажите дату"),
        ("2026-12-05", "25:00", "26:00", "Укажите дату"),
        ("2026-12-05", "14:00", "13:00", "закончиться позже"),
        ("2026-12-05", "14:00", "14:00", "закончиться позже"),
        ("2026-12-05", "08:00", "12:30", "дольше 4 часов"),
        ("2026-12-05", "13:00", "17:01", "дольше 4 часов"),
        ("2026-12-04", "12:30", "13:00", "уже прошло"),
        ("2026-12-05", "10:00", "11:00", "уже прошло"),
        ("2028-01-10", "10:00", "11:00", "на год вперёд"),
    ],
)
def test_what_cannot_be_set_is_refused_in_russian(
    day: str, start: str, end: str, reason: str
) -> None:
    refused = when(day, start, end, NOW)
    assert isinstance(refused, Refusal)
    assert reason in refused.message


def test_a_consultation_is_named_so_and_held_online_on_its_day() -> None:
    at = When(date(2026, 12, 7), time(16, 0), time(16, 45))
    slot = extra_slot(SourcedId("c-5a-math"), "Математика", SourcedId("t1"), Kind.CONSULTATION, at)
    assert slot.subject == "Консультация: Математика"
    assert slot.distance
    assert slot.day == date(2026, 12, 7)
    assert slot.weekday is None
    assert slot.falls_on(date(2026, 12, 7))
    assert not slot.falls_on(date(2026, 12, 14))
    other = extra_slot(SourcedId("c-5a-math"), "Математика", SourcedId("t1"), Kind.LESSON, at)
    assert other.subject == "Математика"
    assert other.id != slot.id  # each its own, unguessable
