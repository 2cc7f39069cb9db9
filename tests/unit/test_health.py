"""Readiness answers, the appservice's open doors, and what parta status prints."""

from __future__ import annotations

from appservice.admission import Door, refusal
from kernel.health import Check, ready
from parta.status import Part, lines, report


def test_ready_names_each_check_and_is_503_when_one_fails() -> None:
    assert ready([Check("database", True), Check("homeserver", True)]) == (
        200,
        {"ready": True, "checks": {"database": "ok", "homeserver": "ok"}},
    )
    code, body = ready([Check("database", True), Check("homeserver", False, "не отвечает")])
    assert code == 503
    assert body == {"ready": False, "checks": {"database": "ok", "homeserver": "не отвечает"}}


def test_only_health_and_ready_open_without_a_token() -> None:
    doors = [Door(b"/_matrix/app/", ("hs",)), Door(b"/ready", (), 0, public=True)]
    assert refusal(doors, b"/ready", None, None) is None
    assert refusal(doors, b"/ready", None, 10) == (
        413,
        "M_TOO_LARGE",
        "the body is larger than 0 bytes",
    )
    assert refusal(doors, b"/_matrix/app/v1/ping", None, None) == (
        401,
        "M_UNAUTHORIZED",
        "missing token",
    )
    assert refusal(doors, b"/readyz", None, None) is None  # the prefix: still nothing private
    assert refusal(doors, b"/other", None, None) == (404, "M_UNRECOGNIZED", "unknown endpoint")


def test_status_names_what_does_not_work() -> None:
    parts = [
        Part("homeserver", True, "работает"),
        Part("bots", False, "не отвечает (ConnectError)"),
        Part("store appservice", True, "схема 2 из 2"),
    ]
    found = report(parts)
    assert found["ok"] is False
    assert found["failing"] == ["bots"]
    assert lines(parts) == [
        "homeserver        работает",
        "bots              НЕ РАБОТАЕТ  не отвечает (ConnectError)",
        "store appservice  работает  схема 2 из 2",
    ]
