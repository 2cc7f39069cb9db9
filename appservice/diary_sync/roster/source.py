"""Where a roster's files come from: a folder or a .zip, read whole into memory.

Exports are small (a 1,000-student school is a few MB), so reading every file
up front keeps the parsers pure: they see names and bytes, never paths.

    Path ──► folder? ──► files directly inside it
        └──► .zip?  ──► files next to the shallowest manifest.csv (zips often
                        wrap everything in one top folder)
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from appservice.diary_sync.roster.errors import Problem

MANIFEST = "manifest.csv"
_MAX_FILE_BYTES = 512 * 1024 * 1024
"""Refuse a zip member larger than this: a real roster never is, a zip bomb is."""


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
            return SourceFiles(_read_folder(source)), []
        if source.is_file() and zipfile.is_zipfile(source):
            return SourceFiles(_read_zip(source)), []
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        return SourceFiles({}), [Problem(source.name, 0, "", f"cannot read: {error}")]
    reason = "no such folder or zip" if not source.exists() else "neither a folder nor a zip"
    return SourceFiles({}), [Problem(source.name, 0, "", reason)]


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {
        path.name.lower(): path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() == ".csv"
    }


def _read_zip(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as opened:
        members = [info for info in opened.infolist() if not info.is_dir()]
        folder = _manifest_folder(members)
        files: dict[str, bytes] = {}
        for info in members:
            path = PurePosixPath(info.filename)
            if path.parent != folder or path.suffix.lower() != ".csv":
                continue
            if info.file_size > _MAX_FILE_BYTES:
                raise ValueError(f"{info.filename} is larger than {_MAX_FILE_BYTES} bytes")
            files[path.name.lower()] = opened.read(info)
        return files


def _manifest_folder(members: list[zipfile.ZipInfo]) -> PurePosixPath:
    manifests = sorted(
        (PurePosixPath(info.filename) for info in members),
        key=lambda path: (len(path.parts), str(path)),
    )
    for path in manifests:
        if path.name.lower() == MANIFEST:
            return path.parent
    return PurePosixPath(".")
