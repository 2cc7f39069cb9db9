"""What a participant's WebSocket may carry, and the close code for what it may not. Pure.

Every message is one JSON object of bounded size and depth with a string ``type``::

    binary frame ──────────────▶ 1003 unsupported data
    more than MAX_FRAME chars ─▶ 1009 message too big
    not JSON, or nested deeper
      than MAX_DEPTH ──────────▶ 1007 invalid payload
    not an object with a type ─▶ 1008 policy violation

A refusal closes that one connection with its code and a short reason; the worker goes
on serving everybody else, and logs one line, not a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_FRAME = 256 * 1024
"""An SDP offer of a big call is tens of kilobytes; nothing legitimate comes near this."""
MAX_DEPTH = 32


MAX_REASON = 123
"""Bytes of UTF-8 a close frame's reason may hold (RFC 6455, 5.5: 125 with the code)."""


class ProtocolViolation(Exception):
    def __init__(self, code: int, reason: str) -> None:
        reason = reason.encode()[:MAX_REASON].decode(errors="ignore")
        super().__init__(reason)
        self.code, self.reason = code, reason


def parse_frame(frame: Mapping[str, Any]) -> dict[str, Any]:
    """One received ASGI ``websocket.receive`` event → the message it carries."""
    text = frame.get("text")
    if text is None:
        raise ProtocolViolation(1003, "binary frames are not accepted")
    if len(text) > MAX_FRAME:
        raise ProtocolViolation(1009, f"a message may be at most {MAX_FRAME} characters")
    if _depth(text) > MAX_DEPTH:
        raise ProtocolViolation(1007, f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        message = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolViolation(1007, f"not JSON: {e.msg}") from e
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolViolation(1008, "a message is a JSON object with a string 'type'")
    return message


def _depth(text: str) -> int:
    """How deep brackets nest (strings skipped), before the parser recurses into them."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
