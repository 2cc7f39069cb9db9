"""«Присутствие»: the class's students, who came and for how long, and the CSV of it."""

from __future__ import annotations

from datetime import UTC, datetime

from appservice.diary_sync.model import Person, Role
from kernel.contracts.bridge import Presence
from kernel.ids import SourcedId
from web_client.attendance import Row, csv_text, rows


def _student(n: int) -> Person:
    return Person(SourcedId(f"s{n}"), Role.STUDENT, f"Ученик{n}", "Иванов")


def _at(hour: int, minute: int) -> int:
    return int(datetime(2026, 12, 5, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_students_who_came_first_with_their_minutes_then_those_who_did_not() -> None:
    students = [_student(1), _student(2), _student(3)]
    accounts = {SourcedId("s1"): "@s1:s", SourcedId("s2"): "@s2:s"}  # s3 never linked
    seen = [
        Presence(user_id="@s2:s", name="s2", first_joined=_at(9, 1), last_left=_at(9, 40),
                 seconds=38 * 60 + 20),
        Presence(user_id="@t:s", name="teacher", first_joined=_at(9, 0), last_left=_at(9, 45),
                 seconds=45 * 60),
        Presence(user_id="@s1:s", name="s1", first_joined=_at(9, 5), last_left=_at(9, 5),
                 seconds=0),
    ]  # fmt: skip
    found = rows(students, accounts, seen, UTC)
    assert found == [
        Row("Иванов Ученик2", 38, "09:01", "09:40"),
        Row("Иванов Ученик1", 0, "", ""),  # a moment in the call is no attendance
        Row("Иванов Ученик3", 0, "", ""),
    ]
    text = csv_text("Математика 05.12.2026 09:00", found)
    assert text.startswith("\ufeffУрок;Ученик;Был на уроке;Минут;Пришёл;Ушёл\r\n")
    assert "Математика 05.12.2026 09:00;Иванов Ученик2;да;38;09:01;09:40\r\n" in text
    assert text.endswith("Математика 05.12.2026 09:00;Иванов Ученик3;нет;0;;\r\n")


def test_the_day_s_homework_of_the_lesson_s_teacher_with_who_handed_in() -> None:
    from datetime import date

    from kernel.contracts.bots import HandIn, HomeworkList, HomeworkTask
    from web_client.attendance import Task, homework_of

    found = HomeworkList(
        room_id="!c:s",
        homework=[
            HomeworkTask(event_id="$1", text="Задачи 1–5", set_by="@t4:s", set_at=_at(9, 30),
                         handed_in=[HandIn(student="@s2:s", file="ответ.txt", at=_at(15, 0))]),
            HomeworkTask(event_id="$2", text="Чужой предмет", set_by="@t1:s", set_at=_at(9, 40),
                         handed_in=[]),
            HomeworkTask(event_id="$3", text="Вчерашнее", set_by="@t4:s",
                         set_at=_at(9, 0) - 86_400_000, handed_in=[]),
        ],
    )  # fmt: skip
    names = {"@s2:s": "Иванов Ученик2"}
    students = ["Иванов Ученик1", "Иванов Ученик2"]
    shown = homework_of(found, date(2026, 12, 5), "@t4:s", names, students, UTC)
    assert shown.room_id == "!c:s"
    assert shown.tasks == [
        Task("Задачи 1–5", "09:30", [("Иванов Ученик2", "ответ.txt", "05.12 15:00")],
             ["Иванов Ученик1"])
    ]  # fmt: skip
    every = homework_of(found, date(2026, 12, 5), None, names, students, UTC)
    assert [t.text for t in every.tasks] == ["Задачи 1–5", "Чужой предмет"]
