"""Reports of messages: what the moderators read, and the commands they may write."""

from __future__ import annotations

import pytest

from bots.moderation import Action, Reported, muted, parse
from bots.registry import Report
from kernel.contracts.policy import report_event


def test_a_report_reads_who_where_what_and_why_and_offers_the_commands() -> None:
    shown = Reported(7, "Родитель-p1 Мария", "parent", "5А — родители", "05.12 12:03",
                     "Учитель-t4 Анна (@t4:s)", "x" * 400, "грубость")  # fmt: skip
    text = shown.notice()
    assert text.startswith("Жалоба №7: Родитель-p1 Мария (родитель) в чате «5А — родители»")
    assert "«" + "x" * 299 + "…»" in text  # long messages are quoted in part
    assert "Причина: грубость" in text
    assert "!удалить 7" in text
    assert "!исключить 7" in text
    assert "Причина: не указана" in Reported(1, "a", None, "r", "w", "b", "t", "").notice()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!удалить 7", (Action.REMOVE, 7)),
        ("!удалить №12", (Action.REMOVE, 12)),
        ("  !исключить 3 ", (Action.KICK, 3)),
        ("!предупредить 4", (Action.WARN, 4)),
        ("!удалить", None),
        ("!удалить семь", None),
        ("!удалить 7 и 8", None),
        ("!чат 7", None),
    ],
)
def test_commands(body: str, expected: tuple[Action, int] | None) -> None:
    assert parse(body) == expected


def test_a_forwarded_report_reads_back_as_the_same_report() -> None:
    event = report_event(7, 1_700_000_000_000, "!r:s", "$m", "@p1:s", "грубость")
    found = Report.of(event, "parent", "!mod:s")
    assert found == Report(7, "!r:s", "$m", "@p1:s", "грубость", "!mod:s", "parent")
    assert Report.of({**event, "type": "m.room.message"}, None, None) is None
    broken = {**event, "content": {"event_id": "$m"}}  # no report id
    assert Report.of(broken, None, None) is None


def test_a_muted_author_is_below_what_a_message_needs_and_nobody_else_changes() -> None:
    levels = {"users": {"@t:s": 50, "@p:s": 0}, "events_default": 0, "events": {"m.room.name": 50}}
    after = muted(levels, "@p:s")
    assert after["users"] == {"@t:s": 50, "@p:s": -1}
    assert after["events"] == {"m.room.name": 50}
    strict = {"users": {}, "events": {"m.room.message": 60}}  # «Объявления»-like
    assert muted(strict, "@x:s")["users"] == {"@x:s": -1}
    assert parse("!заглушить 5") == (Action.MUTE, 5)


def test_a_reply_s_quoted_fallback_is_not_the_command() -> None:
    """Element sends «> <@t:s> Завтра экскурсия\\n\\n!кто»: the command is the answer."""
    from bots.readers_feature import summary
    from bots.registry import Command
    from kernel.matrix.replies import without_fallback

    assert without_fallback("> <@t:s> Завтра экскурсия\n> подпись\n\n!кто") == "!кто"
    assert without_fallback("!кто") == "!кто"
    assert without_fallback("> цитата без ответа") == "> цитата без ответа"
    event = {
        "type": "m.room.message", "event_id": "$c", "room_id": "!r", "sender": "@t:s",
        "content": {"msgtype": "m.text", "body": "> <@t:s> Завтра\n\n!кто",
                    "m.relates_to": {"m.in_reply_to": {"event_id": "$m"}}},
    }  # fmt: skip
    command = Command.of(event, "teacher")
    assert command is not None
    assert (command.word, command.reply_to) == ("!кто", "$m")
    assert (
        summary(["Аня", "Боря"], ["Вика"]) == "Прочитали 2 из 3: Аня, Боря. Ещё не прочитали: Вика"
    )
    many = [f"Ученик {n:02d}" for n in range(40)]
    assert summary([], many).endswith("и ещё 10")
