"""The day's photos: a PNG made in process, uploaded to Synapse's media repository, sent
as ``m.image``, and fetched back by each recipient.

::

    sender: png(seed) ─▶ POST /_matrix/media/v3/upload ─▶ mxc://… ─▶ PUT …/send/m.room.message
            (msgtype m.image, the mxc, its size)
    recipient's /sync returns the event ─▶ GET /_matrix/client/v1/media/download/{server}/{id}
            (authenticated media) ─▶ the bytes, checked against the size the event names

The PNG is random noise (zlib cannot shrink it), so its size is what is asked: a phone's
small photo, tens of KB, without an image library (only ``zlib`` and ``struct``).
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import Any, Protocol
from urllib.parse import quote

import httpx

SIDE = 112
"""112 × 112 RGB: 37,632 bytes of pixels, a PNG of about 37.7 KB."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UPLOAD_PATH = "/_matrix/media/v3/upload"
DOWNLOAD_PATH = "/_matrix/client/v1/media/download"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(seed: int, side: int = SIDE) -> bytes:
    """A valid ``side`` × ``side`` 8-bit RGB PNG of noise from ``seed`` (the same seed, the
    same bytes)."""
    luck = random.Random(seed)  # noqa: S311 - pixels, not a secret
    rows = b"".join(b"\x00" + luck.randbytes(side * 3) for _ in range(side))  # filter: none
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8 bits, RGB, no interlace
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 6))
        + _chunk(b"IEND", b"")
    )


def image_content(mxc: str, size: int, side: int = SIDE) -> dict[str, Any]:
    """An ``m.image`` message's content, as a client sends it (the marks are added later)."""
    return {
        "msgtype": "m.image",
        "body": "photo.png",
        "url": mxc,
        "info": {"mimetype": "image/png", "size": size, "w": side, "h": side},
    }


def download_path(mxc: str) -> str:
    """``mxc://server/id`` → the authenticated download path."""
    if not mxc.startswith("mxc://"):
        raise ValueError(f"not a Matrix content URI: {mxc!r}")
    server, _slash, media = mxc.removeprefix("mxc://").partition("/")
    return f"{DOWNLOAD_PATH}/{quote(server, safe=':')}/{quote(media, safe='')}"


class Requests(Protocol):
    """A load generator's one request, its failures counted by kind (None for a failure)."""

    async def request(
        self, op: str, method: str, path: str, token: str, **kw: Any
    ) -> httpx.Response | None: ...


async def upload(http: Requests, token: str, data: bytes) -> str | None:
    """The photo's ``mxc://`` URI, or None (the failure was counted)."""
    answer = await http.request(
        "upload",
        "POST",
        UPLOAD_PATH,
        token,
        params={"filename": "photo.png"},
        content=data,
        headers={"Content-Type": "image/png"},
    )
    return None if answer is None else str(answer.json()["content_uri"])


async def fetch(http: Requests, token: str, content: dict[str, Any]) -> bytes | None:
    """Download the photo an ``m.image`` names (None: the failure was counted)."""
    answer = await http.request("download", "GET", download_path(str(content["url"])), token)
    return None if answer is None else answer.content


def intact(content: dict[str, Any], data: bytes) -> bool:
    """The bytes are the PNG the event names: its size, a PNG's signature."""
    size = content.get("info", {}).get("size")
    return isinstance(size, int) and len(data) == size and data.startswith(PNG_SIGNATURE)
