"""Bad input at volume (issue 17.3): every parser that takes outside input, fed by hypothesis.

Each property takes one drawn input and checks the parser's contract: a result, or the
parser's own clear refusal — never another exception — and no state changed by a refusal.
``tests/unit/test_input_fuzz.py`` runs each a few hundred times in ``make test``;
``parta bench fuzz --cases 10000`` runs each that many times and prints what broke.

    parser                      outside input                     a clear refusal is
    bot commands (registry)     any event a client can send       None
    moderation / invites /      any message text                  None
      homework commands
    signalling frames           any WebSocket frame               ProtocolViolation(code)
    meeting form                any form fields                   MeetingFormError(field)
    timetable.csv               any bytes, or a valid file bent   RosterError(file:line)
    appservice transactions     any JSON the homeserver may push  kept aside, never raised
    lesson ids in URLs          any text                          None
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appservice.diary_sync.model import ClassKind, Diary
from appservice.diary_sync.roster.errors import RosterError
from appservice.diary_sync.timetable import load_timetable, split_lesson_id
from appservice.store import Store
from bots import homework, invites, moderation
from bots.registry import Command, FileReply, Report
from call_bridge.frames import MAX_REASON, ProtocolViolation, parse_frame
from kernel.ids import SourcedId
from synthetic.school import generate_school
from web_client.meetings import (
    GroupTarget,
    MeetingFormError,
    MeetingRequest,
    ParentTarget,
    Targets,
    read_form,
)


class ContractBroken(Exception):
    """A parser answered outside its contract (a crash is any other exception)."""


def _holds(condition: object, *what: object) -> None:
    if not condition:
        raise ContractBroken(repr(what) if what else "a contract does not hold")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = ("type", "content", "event_id", "room_id", "sender", "origin_server_ts", "state_key")
CONTENT_KEYS = ("msgtype", "body", "m.relates_to", "filename", "event_id", "report_id", "reason")


@st.composite
def events(draw: st.DrawFn) -> Any:
    """Mostly near-valid events with parts of any shape; sometimes any JSON at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    content = {
        k: draw(st.one_of(JSON, st.just("!кто"), st.just("m.text"), st.just("m.file")))
        for k in draw(st.sets(st.sampled_from(CONTENT_KEYS)))
    }
    event: dict[str, Any] = {
        k: draw(st.one_of(JSON, st.text(max_size=30))) for k in draw(st.sets(st.sampled_from(KEYS)))
    }
    event["type"] = draw(
        st.sampled_from(["m.room.message", "org.parta.report", "m.room.member", ""]) | JSON
    )
    event["content"] = draw(st.just(content) | JSON)
    return event


def bot_events(event: Any) -> None:
    if not isinstance(event, dict):
        return  # the listener reads JSON objects only (the commands API's contract)
    for parse in (Command.of, FileReply.of):
        parse(event, None)
    Report.of(event, None, None)


COMMAND_WORDS = ["!чат", "!ссылка", "!дз", "!жалоба", "!предупредить", "!кто", "!собрание", ""]


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(COMMAND_WORDS)) + draw(st.text(max_size=60))


def command_text(body: str) -> None:
    moderation.parse(body)
    invites.parse_chat(body)
    invites.chat_name(body)
    homework.task_text(body)


@st.composite
def frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return {"bytes": draw(st.binary(max_size=64))}
    if kind == 1:
        return {"text": json.dumps(draw(JSON))}
    if kind == 2:
        return {"text": draw(st.text(max_size=200))}
    return {"text": "[" * draw(st.integers(0, 400)) + draw(st.text(max_size=5))}


def frame(received: dict[str, Any]) -> None:
    try:
        message = parse_frame(received)
    except ProtocolViolation as e:
        _holds(e.code in (1003, 1007, 1008, 1009), e.code)
        _holds(len(e.reason.encode()) <= MAX_REASON)
        return
    _holds(isinstance(message, dict) and isinstance(message["type"], str))


NOW = datetime(2026, 12, 5, 12, 0)
FORM_FIELDS = ("title", "date", "time", "minutes", "where", "now")


@st.composite
def forms(draw: st.DrawFn) -> dict[str, str]:
    plausible = {
        "title": st.text(max_size=210),
        "date": st.sampled_from(["2026-12-06", "2026-13-01", "", "2027-12-31"]) | st.text(),
        "time": st.sampled_from(["09:00", "25:00", "", "18:30:59"]) | st.text(max_size=8),
        "minutes": st.sampled_from(["45", "0", "-1", "100000", ""]) | st.text(max_size=6),
        "where": st.sampled_from(["#parta.org.parents.5a:s", "parent:p1", ""]) | st.text(),
        "now": st.sampled_from(["", "1"]),
    }
    return {k: draw(plausible[k]) for k in draw(st.sets(st.sampled_from(FORM_FIELDS)))}


ALLOWED = Targets(
    (GroupTarget("#parta.org.parents.5a:s", "5А — родители"),),
    (ParentTarget(SourcedId("p1"), "Мама", "Ученик"),),
)


def meeting_form(form: dict[str, str]) -> None:
    try:
        request = read_form(form, ALLOWED, NOW)
    except MeetingFormError as e:
        _holds(e.field in FORM_FIELDS, e.field)
        _holds(e.reason)
        return
    _holds(isinstance(request, MeetingRequest))
    _holds(request.room_alias == "#parta.org.parents.5a:s" or request.parent == "p1")
    _holds(request.starts_at > NOW.replace(second=0) - timedelta(minutes=1))


@cache
def _school() -> tuple[Diary, str]:
    """A small generated school, and a timetable of it that loads."""
    diary = generate_school(30, seed=3).diary
    scheduled = sorted(c for c, k in diary.classes.items() if k.kind is ClassKind.SCHEDULED)
    rows = [
        "sourcedId,classSourcedId,date,weekday,startTime,endTime,subject,room,distance",
        f"tt-1,{scheduled[0]},,1,08:30,09:15,,каб. 10,false",
        f"tt-2,{scheduled[1]},2026-12-07,,09:25,10:10,Математика,,true",
    ]
    return diary, "\n".join(rows) + "\n"


@st.composite
def timetables(draw: st.DrawFn) -> bytes:
    data = bytearray(_school()[1].encode())
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        data[at : at + draw(st.integers(0, 3))] = draw(st.binary(max_size=4))
    return bytes(data) if draw(st.booleans()) else draw(st.binary(max_size=120))


def timetable(data: bytes) -> None:
    try:
        load_timetable(data, _school()[0])
    except RosterError as e:
        _holds(e.problems)
        _holds(all(p.file == "timetable.csv" for p in e.problems), e.problems)


def lesson_id(text: str) -> None:
    split_lesson_id(text)


@dataclass(frozen=True)
class Property:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


class Transactions:
    """The appservice's store fed whatever the homeserver may push: stored or kept aside,
    a replay changes nothing."""

    def __init__(self, folder: Path) -> None:
        self.store = Store.open(f"sqlite:///{folder / 'fuzz.db'}", now_ms=lambda: 0)
        self.n = 0

    def __call__(self, raw: list[Any]) -> None:
        self.n += 1
        txn = f"fuzz-{self.n}"
        outcome = self.store.record_transaction(txn, raw)
        _holds(outcome.new)
        _holds(len(outcome.stored) + outcome.rejected <= len(raw))
        before = (self.store.event_count(), self.store.transaction_count())
        again = self.store.record_transaction(txn, raw)
        _holds(not again.new)
        _holds((self.store.event_count(), self.store.transaction_count()) == before)

    def close(self) -> None:
        self.store.close()


def properties(folder: Path) -> list[tuple[Property, Callable[[], None]]]:
    """Each property, and what closes after it."""
    transactions = Transactions(folder)
    return [
        (Property("bot events", events(), bot_events), _nothing),
        (Property("bot command texts", command_texts(), command_text), _nothing),
        (Property("signalling frames", frames(), frame), _nothing),
        (Property("meeting form", forms(), meeting_form), _nothing),
        (Property("timetable.csv", timetables(), timetable), _nothing),
        (
            Property("appservice transactions", st.lists(events(), max_size=5), transactions),
            transactions.close,
        ),
        (Property("lesson ids", st.text(max_size=40), lesson_id), _nothing),
    ]


def _nothing() -> None:
    return None


def run(prop: Property, cases: int, seed: int | None = None) -> tuple[int, str | None]:
    """``cases`` inputs through one property: (inputs tried, the first failure or None)."""
    tried = [0]

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        suppress_health_check=list(HealthCheck),
    )
    @given(prop.strategy)
    def property_(value: Any) -> None:
        tried[0] += 1
        prop.check(value)

    try:
        property_()
    except Exception as e:  # the failure hypothesis shrank: report it, go on
        return tried[0], f"{type(e).__name__}: {e}"[:2000]
    return tried[0], None


def bench_fuzz(args: argparse.Namespace) -> int:
    found: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for prop, close in properties(Path(folder)):
            started = time.perf_counter()
            tried, failure = run(prop, args.cases)
            close()
            found[prop.name] = {
                "cases": tried,
                "seconds": round(time.perf_counter() - started, 2),
                "failure": failure,
            }
            if not args.json:
                print(
                    f"{prop.name:<26} {tried:>7} cases  {found[prop.name]['seconds']:>7.1f} s  "
                    + ("ok" if failure is None else f"FAILED: {failure}")
                )
    crashes = sum(1 for f in found.values() if f["failure"])
    if args.json:
        print(json.dumps({"parsers": found, "crashes": crashes}, ensure_ascii=False))
    return 1 if crashes else 0
