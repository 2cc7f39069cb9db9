"""Where a roster's files come from: a folder or a .zip, read into memory within limits.

Exports are small (a 1,000-student school is a few MB), so reading every file up front
keeps the parsers pure: they see names and bytes, never paths. A zip is read member by
member, in chunks, and never past the limits, so a zip bomb costs nothing::

    Path ──► folder? ──► files directly inside it
        └──► .zip?  ──► files next to the shallowest manifest.csv (zips often
                        wrap everything in one top folder), or with none, next to
                        the shallowest users.csv (OneRoster 1.0, SDS); each member must be
                        - not encrypted, and compressed in a way zipfile reads
                          (stored, Deflate, bzip2, LZMA — not Deflate64),
                        - at most MAX_RATIO times its compressed size,
                        and all of them together at most MAX_TOTAL bytes;
                        every refusal is ``file: reason``
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from appservice.diary_sync.roster.errors import Problem

MANIFEST = "manifest.csv"
_USERS = "users.csv"
"""Where an export without a manifest (OneRoster 1.0, SDS v2.1) keeps its files."""
MAX_TOTAL = 256 * 1024 * 1024
"""All CSV files of one export together: a region's export is tens of MB, a zip bomb GBs."""
MAX_RATIO = 100
"""A member may unpack to at most this many times its packed size (CSV packs 5–20 times)."""
_CHUNK = 1024 * 1024
_READABLE = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "Deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "LZMA",
}
_METHODS = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 98: "PPMd", 99: "AES"}


@dataclass(frozen=True)
class SourceFiles:
    """The CSV files of one export, keyed by lower-cased file name."""

    files: dict[str, bytes]

    def get(self, name: str) -> bytes | None:
        return self.files.get(name.lower())


def read_source(source: Path) -> tuple[SourceFiles, list[Problem]]:
    """Read a folder or a zip; an unreadable source is a file-level problem."""
    try:
        if source.is_dir():
            return _read_folder(source)
        if source.is_file() and zipfile.is_zipfile(source):
            return _read_zip(source)
    except (
        OSError,
        zipfile.BadZipFile,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        NotImplementedError,
    ) as error:  # NotImplementedError: a zip «version» or feature zipfile cannot read
        return SourceFiles({}), [Problem(source.name, 0, "", f"cannot read: {error}")]
    reason = "no such folder or zip" if not source.exists() else "neither a folder nor a zip"
    return SourceFiles({}), [Problem(source.name, 0, "", reason)]


def _read_folder(folder: Path) -> tuple[SourceFiles, list[Problem]]:
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(folder.iterdir()):
        if not (path.is_file() and path.suffix.lower() == ".csv"):
            continue
        total += path.stat().st_size
        if total > MAX_TOTAL:
            return SourceFiles({}), [_too_big(path.name)]
        files[path.name.lower()] = path.read_bytes()
    return SourceFiles(files), []


def _read_zip(archive: Path) -> tuple[SourceFiles, list[Problem]]:
    with zipfile.ZipFile(archive) as opened:
        members = [info for info in opened.infolist() if not info.is_dir()]
        folder = _manifest_folder(members)
        wanted = [
            info
            for info in members
            if PurePosixPath(info.filename).parent == folder
            and PurePosixPath(info.filename).suffix.lower() == ".csv"
        ]
        problems = [p for info in wanted if (p := _unreadable(info)) is not None]
        declared = sum(info.file_size for info in wanted)
        if declared > MAX_TOTAL:
            problems.append(_too_big(archive.name, declared))
        if problems:
            return SourceFiles({}), problems
        files: dict[str, bytes] = {}
        budget = MAX_TOTAL
        for info in wanted:
            data = _read_member(opened, info, budget)
            if data is None:
                return SourceFiles({}), [_too_big(info.filename)]
            budget -= len(data)
            files[PurePosixPath(info.filename).name.lower()] = data
        return SourceFiles(files), []


def _unreadable(info: zipfile.ZipInfo) -> Problem | None:
    name = info.filename
    if info.flag_bits & 0x1:
        return Problem(name, 0, "", "encrypted (password-protected): export it without a password")
    if info.compress_type not in _READABLE:
        method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
        return Problem(
            name,
            0,
            "",
            f"compressed with {method}, which cannot be read: zip it again with Deflate",
        )
    if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > _CHUNK:
        return Problem(
            name,
            0,
            "",
            f"unpacks to {info.file_size} bytes from {info.compress_size}, more than {MAX_RATIO}"
            " times: not a roster export (a zip bomb?)",
        )
    return None


def _read_member(opened: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes | None:
    """The member's bytes, read in chunks; None past ``budget`` (its header may lie)."""
    chunks: list[bytes] = []
    size = 0
    with opened.open(info) as member:
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            if size > budget:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _too_big(name: str, size: int | None = None) -> Problem:
    unpacked = f"unpacks to {size} bytes: " if size is not None else ""
    return Problem(
        name, 0, "", f"{unpacked}more than {MAX_TOTAL} bytes of CSV in all: not a roster export"
    )


def _manifest_folder(members: list[zipfile.ZipInfo]) -> PurePosixPath:
    manifests = sorted(
        (PurePosixPath(info.filename) for info in members),
        key=lambda path: (len(path.parts), str(path)),
    )
    for name in (MANIFEST, _USERS):
        for path in manifests:
            if path.name.lower() == name:
                return path.parent
    return PurePosixPath(".")
