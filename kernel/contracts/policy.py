"""The contract between the homeserver's policy module and the appservice that answers it.

Both sides import these models, so a field renamed on one side fails on the other at once
(``extra="forbid"``), not as a silent «allowed»::

    policy module (in Synapse)                         appservice
      POST /_parta/v1/may_enter        EnterQuestion ──▶ Answer  (members_needed: ask again
                                                                   with the room's members)
      POST /_parta/v1/may_create_room  CreateQuestion ─▶ Answer  (local_only: m.federate false)
      POST /_parta/v1/may_open         OpenQuestion ───▶ Answer
      POST /_parta/v1/may_see          SeeQuestion ────▶ Answer  (allowed: shown in the directory)

Every request carries the homeserver's token (``hs_token``).

Reports of messages (``POST /rooms/{room}/report/{event}``, from any client) are read by the
module from Synapse's ``event_reports`` and handed to the appservice as events of their own
type in an ordinary appservice transaction (``parta-report-<id>``: a replay stores nothing),
so the bots read them with the commands::

    policy module ──PUT /_matrix/app/v1/transactions/parta-report-7──▶ appservice
        {"events": [{"type": "org.parta.report", "event_id": "$parta-report-7",
                     "room_id": <where>, "sender": <who reported>,
                     "content": {"report_id": 7, "event_id": <the message>, "reason": …}}]}
"""

from __future__ import annotations

from kernel.contracts.base import Message

ENTER_PATH = "/_parta/v1/may_enter"
CREATE_PATH = "/_parta/v1/may_create_room"
OPEN_PATH = "/_parta/v1/may_open"
SEE_PATH = "/_parta/v1/may_see"
REPORT_TYPE = "org.parta.report"


def report_event(
    report_id: int, received_ts: int, room_id: str, event_id: str, reporter: str, reason: str
) -> dict[str, object]:
    """A report as the appservice stores it: one event per report, its id made from the
    report's, so a report forwarded twice is stored once."""
    return {
        "type": REPORT_TYPE,
        "event_id": f"$parta-report-{report_id}",
        "room_id": room_id,
        "sender": reporter,
        "origin_server_ts": received_ts,
        "content": {"report_id": report_id, "event_id": event_id, "reason": reason[:1000]},
    }


class EnterQuestion(Message):
    """May ``user_id`` join ``room_id`` (or be invited there by ``inviter``)?"""

    room_id: str
    user_id: str
    inviter: str | None = None
    federates: bool
    open: bool
    members: list[str] | None = None
    """Joined or invited now; sent only when the appservice asks for them (a room that
    is not the diary's), since a diary room can hold the whole school."""


class CreateQuestion(Message):
    user_id: str
    direct: bool
    invitees: list[str]
    open: bool
    users_default: int = 0


class OpenQuestion(Message):
    """May a room with these members become public, knockable, world-readable or guest-open?"""

    members: list[str]


class SeeQuestion(Message):
    """Is ``user_id`` shown to ``viewer`` in the user directory?"""

    viewer: str
    user_id: str


class Answer(Message):
    allowed: bool
    reason: str = ""
    managed: bool = False
    """A diary room: the diary chose its members."""
    members_needed: bool = False
    local_only: bool = False
