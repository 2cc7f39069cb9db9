"""The lesson bot's plan: post once, remind once, edit on a move, cancel, never repeat."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bots.lesson_posts import (
    Cancel,
    Edit,
    Lesson,
    Post,
    Posted,
    Remind,
    cancelled_text,
    plan,
    transaction,
)

NOW = datetime(2026, 11, 30, 17, 0)
REMIND, HORIZON = timedelta(minutes=15), timedelta(days=7)
LESSON = Lesson(
    "tt-5a-7@2026-11-30", "Математика", "5А", datetime(2026, 11, 30, 18, 15),
    datetime(2026, 11, 30, 18, 55), "#parta.org.class.5a:school", "https://calls/lesson/x",
)  # fmt: skip


def posted(lesson: Lesson = LESSON, **changes: object) -> Posted:
    base = Posted(lesson.lesson_id, "!room", "$event", lesson.text(), False, False)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_new_lesson_is_posted_with_the_seed_s_words() -> None:
    (action,) = plan([LESSON], {}, NOW, REMIND, HORIZON)
    assert action == Post(LESSON)
    assert LESSON.text() == (
        "Дистанционный урок: Математика 30 ноября, 18:15–18:55 — Присоединиться: "
        "https://calls/lesson/x"
    )
    assert '<a href="https://calls/lesson/x">Присоединиться</a>' in LESSON.html()


def test_nothing_to_do_when_everything_is_posted() -> None:
    assert plan([LESSON], {LESSON.lesson_id: posted()}, NOW, REMIND, HORIZON) == []


def test_one_reminder_in_the_last_minutes_before_the_start() -> None:
    soon = datetime(2026, 11, 30, 18, 0)
    assert plan([LESSON], {LESSON.lesson_id: posted()}, soon, REMIND, HORIZON) == [
        Remind(posted(), LESSON)
    ]
    done = {LESSON.lesson_id: posted(reminded=True)}
    assert plan([LESSON], done, soon, REMIND, HORIZON) == []


def test_a_moved_lesson_edits_its_message_and_a_vanished_one_is_cancelled() -> None:
    moved = replace(LESSON, starts_at=LESSON.starts_at + timedelta(hours=1))
    (edit,) = plan([moved], {LESSON.lesson_id: posted()}, NOW, REMIND, HORIZON)
    assert isinstance(edit, Edit)
    assert edit.text == moved.text()
    (cancel,) = plan([], {LESSON.lesson_id: posted()}, NOW, REMIND, HORIZON)
    assert cancel == Cancel(posted())
    assert cancelled_text(posted()).startswith("Отменён: Дистанционный урок: Математика")
    back = plan([LESSON], {LESSON.lesson_id: posted(cancelled=True)}, NOW, REMIND, HORIZON)
    assert back == [Edit(posted(cancelled=True), LESSON.text(), LESSON.html())]


def test_lessons_outside_the_fetched_days_are_left_alone() -> None:
    old = replace(LESSON, lesson_id="tt-5a-7@2026-11-20")
    assert plan([], {old.lesson_id: posted(old)}, NOW, REMIND, HORIZON) == []
    over = replace(LESSON, ends_at=NOW - timedelta(minutes=1), starts_at=NOW - timedelta(hours=1))
    assert plan([over], {}, NOW, REMIND, HORIZON) == []


def test_transaction_ids_repeat_for_the_same_request_only() -> None:
    assert transaction("post", "a") == transaction("post", "a")
    assert transaction("post", "a") != transaction("post", "b")
