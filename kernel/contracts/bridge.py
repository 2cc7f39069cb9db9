"""The call bridge's API, both sides of it.

::

    diary ──GET /api/v1/attendance?call=lesson/<id>──▶ Attendance   (the diary API token)
    page, tests ──GET /api/v1/place?call=…──▶ Placement              (no token: it names only
                                                                      a worker's address)
"""

from __future__ import annotations

import httpx

from kernel.contracts.base import Message, call

ATTENDANCE_PATH = "/api/v1/attendance"
PLACE_PATH = "/api/v1/place"


class Presence(Message):
    user_id: str
    name: str
    first_joined: int
    """Milliseconds since the epoch."""
    last_left: int
    seconds: int
    """Time in the call, overlapping stays counted once."""


class Attendance(Message):
    call: str
    attendance: list[Presence]


class Placement(Message):
    ws_url: str
    worker: int


class BridgeApi:
    """The one client of the call bridge's front."""

    def __init__(
        self, base_url: str, token: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url, self._token, self._transport = base_url.rstrip("/"), token, transport

    async def attendance(self, call_id: str) -> Attendance:
        return await call(
            "GET",
            self._url + ATTENDANCE_PATH,
            self._token,
            Attendance,
            params={"call": call_id},
            transport=self._transport,
        )
