"""Typed identifiers shared by every component.

Matrix ids follow the spec's grammar; diary ids are the roster's ``sourcedId``.
"""

from __future__ import annotations

import re
from typing import NewType

UserID = NewType("UserID", str)
RoomID = NewType("RoomID", str)
RoomAlias = NewType("RoomAlias", str)
ServerName = NewType("ServerName", str)
SourcedId = NewType("SourcedId", str)

_LOCALPART_OK = re.compile(r"[a-z0-9._=\-/]")


def user_id(localpart: str, server: ServerName) -> UserID:
    return UserID(f"@{localpart}:{server}")


def room_alias(localpart: str, server: ServerName) -> RoomAlias:
    return RoomAlias(f"#{localpart}:{server}")


def server_of(mxid: str) -> ServerName:
    """The server part of a user id or alias (everything after the first colon)."""
    _, _, server = mxid.partition(":")
    if not server:
        raise ValueError(f"not a Matrix id: {mxid!r}")
    return ServerName(server)


def localpart_of(mxid: str) -> str:
    return mxid[1:].partition(":")[0]


def escape_localpart(text: str) -> str:
    """Map any string onto the localpart grammar, reversibly (``=xx`` escapes).

    Roster ids are opaque and may hold capitals or punctuation; the mapping is
    injective so two diary people never share a Matrix id.
    """
    out: list[str] = []
    for char in text:
        if _LOCALPART_OK.fullmatch(char) and char != "=":
            out.append(char)
        else:
            out.extend(f"={byte:02x}" for byte in char.encode("utf-8"))
    return "".join(out)
