"""What every bot feature is given: the Matrix client, the clock, its addresses, and the few
things they all do — post, answer a command, tell whether its author may ask for it.

One object, made once by :mod:`bots.__main__`; features never build their own clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.lesson_posts import transaction
from bots.metrics import POSTS
from bots.registry import STAFF_ROLES, Command
from kernel.ids import RoomID, UserID
from kernel.matrix import MatrixClient, MatrixError, MatrixFailure

STAFF_POWER = 50
"""Teachers (60), class teachers (80), the administration (95) of the sync."""


class CommandFailed(Exception):
    """A command the homeserver refused; ``transient`` ones are tried again next time."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class BotContext:
    matrix: MatrixClient
    """With the appservice's token: the school's bot, or one of the school's people."""
    bot: UserID
    now: Callable[[], datetime]
    """The school's local time, to the minute."""
    bridge_url: str
    diary_url: str

    async def send(self, room: str, content: dict[str, Any], txn: str) -> str:
        """Posted once per ``txn`` (a retry after a crash posts nothing twice)."""
        try:
            sent = await self.matrix.send_message(RoomID(room), content, txn)
        except MatrixFailure as e:
            POSTS.labels("command", "failed").inc()
            raise CommandFailed(f"could not post in {room}: {e}", e.transient) from e
        POSTS.labels("command", "ok").inc()
        return sent

    async def reply(self, command: Command, text: str) -> None:
        content = {
            "msgtype": "m.notice",
            "body": text,
            "m.relates_to": {"m.in_reply_to": {"event_id": command.event_id}},
        }
        await self.send(command.room_id, content, transaction("reply", command.event_id))

    async def power(self, room: str, user: str) -> int:
        """The user's power in the room (room v12 creators outrank every level)."""
        try:
            levels = await self.matrix.power_levels(RoomID(room))
        except MatrixError as e:
            if e.transient:
                raise CommandFailed(str(e), True) from e
            return 0
        return levels.of_user(user)

    async def staff_here(self, command: Command) -> bool:
        """A member of the school's staff by the roster, with a teacher's power in this room."""
        if command.role not in STAFF_ROLES:
            return False
        return await self.power(command.room_id, command.sender) >= STAFF_POWER
