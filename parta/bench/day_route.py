"""Which Synapse process a load-generator request goes to: the reverse proxy's routing.

::

    GET /sync, /events, /initialSync, a room's /context, /members, /joined_members, /state,
        /event/…, /relations/…, /joined_rooms     ─▶ the client's generic worker (sticky:
                                                     a stable hash of its user id)
    GET a room's /messages                        ─▶ that room's worker (Synapse's workers
                                                     documentation: one room's paginations
                                                     on one instance)
    everything else (sends, receipts, typing, media, login, OpenID) ─▶ the main process

The patterns are the read endpoints Synapse's workers documentation lists for a
``generic_worker``; the writes it lists too stay on main, because a generic worker forwards
them to the stream writer (main here) anyway. No I/O.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from urllib.parse import unquote

_VERSIONS = r"(?:api/v1|r0|v3|unstable)"
STICKY_READS = re.compile(
    rf"^/_matrix/client/{_VERSIONS}/(?:"
    r"sync|events|initialSync|joined_rooms"
    r"|rooms/[^/]+/(?:initialSync|context/.*|members|joined_members|state|event/.*)"
    r")$"
    r"|^/_matrix/client/(?:v1|unstable)/rooms/[^/]+/relations/.*$"
)
"""Read endpoints a sticky proxy sends to the user's worker."""
ROOM_READS = re.compile(rf"^/_matrix/client/{_VERSIONS}/rooms/(?P<room>[^/]+)/messages$")
"""Paginations: all of one room's on one worker."""


def pick(key: str, count: int) -> int:
    """A stable choice among ``count`` (the same in every process and run: CRC-32, not
    Python's salted ``hash``)."""
    return zlib.crc32(key.encode()) % count


def base_for(method: str, path: str, user: str, main: str, workers: Sequence[str]) -> str:
    """The base URL that serves ``method path`` for ``user``: a worker or ``main``."""
    if not workers or method != "GET":
        return main
    if STICKY_READS.match(path):
        return workers[pick(user, len(workers))]
    room = ROOM_READS.match(path)
    if room is not None:
        return workers[pick(unquote(room["room"]), len(workers))]
    return main
