"""Bad input, at volume (issue 17.3): every parser of outside input under hypothesis answers
with a result or its own clear refusal, never a crash (``parta bench fuzz`` runs 10,000 each).
It found the bots reading a reply's ``m.relates_to`` of another shape than an object: the
listener would have stopped on any client's malformed reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.registry import Command, FileReply
from parta.bench.fuzz import Property, properties, run

CASES = 150


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Property]]:
    found = properties(Path(tmp_path_factory.mktemp("fuzz")))
    yield [prop for prop, _close in found]
    for _prop, close in found:
        close()


@pytest.mark.parametrize(
    "name",
    [
        "bot events",
        "bot command texts",
        "signalling frames",
        "meeting form",
        "timetable.csv",
        "appservice transactions",
        "lesson ids",
    ],
)
def test_a_parser_answers_every_input_with_a_result_or_a_clear_refusal(
    every: list[Property], name: str
) -> None:
    (prop,) = [p for p in every if p.name == name]
    tried, failure = run(prop, CASES)
    assert failure is None, failure
    assert tried >= CASES // 2  # hypothesis may stop early on a small input space


@pytest.mark.parametrize(
    "relates_to", ["oops", ["m.in_reply_to"], {"m.in_reply_to": "x"}, {"m.in_reply_to": None}]
)
def test_a_reply_of_any_shape_is_read_without_a_crash(relates_to: object) -> None:
    event = {
        "type": "m.room.message",
        "event_id": "$e",
        "room_id": "!r:s",
        "sender": "@u:s",
        "content": {"msgtype": "m.text", "body": "!кто", "m.relates_to": relates_to},
    }
    command = Command.of(event)
    assert command is not None
    assert command.reply_to is None
    assert (
        FileReply.of({**event, "content": {"msgtype": "m.file", "m.relates_to": relates_to}})
        is None
    )
    assert Command.of({**event, "content": "not an object"}) is None
