"""Roster files as they arrive from outside, checked by ``parta roster check``: zips that
would swallow the machine or cannot be read, legacy encodings, bytes and references that
must be refused — each named as ``file[:line:column]: reason``, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from appservice.diary_sync.roster import load_roster
from appservice.diary_sync.roster.source import MAX_RATIO, MAX_TOTAL
from kernel.ids import SourcedId
from tests.integration.test_cli import parta

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "roster" / "v12"


def _zip(path: Path, folder: Path, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, file.name)
    return path


def _patch_headers(path: Path, member: str, *, flags: int = 0, method: int | None = None,
                   size: int | None = None) -> None:  # fmt: skip
    """Rewrite one member's local and central headers, as another zip tool would have."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, flag_at, method_at, size_at, name_at in (
        (b"PK\x03\x04", 6, 8, 22, 30),
        (b"PK\x01\x02", 8, 10, 24, 46),
    ):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            start = at + 4
            if data[at + name_at : at + name_at + len(name)] != name:
                continue
            old = struct.unpack_from("<H", data, at + flag_at)[0]
            struct.pack_into("<H", data, at + flag_at, old | flags)
            if method is not None:
                struct.pack_into("<H", data, at + method_at, method)
            if size is not None:
                struct.pack_into("<I", data, at + size_at, size)
    path.write_bytes(bytes(data))


def _refused(source: Path, expected: str) -> list[str]:
    result = parta("roster", "check", str(source))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.strip().splitlines()
    assert any(re.search(expected, line) for line in lines), lines
    return lines


def test_a_zip_bomb_is_refused_by_its_ratio_before_it_is_unpacked(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURE, folder)
    (folder / "users.csv").write_bytes(
        (FIXTURE / "users.csv").read_bytes() + b"\n" * (64 * 1024 * 1024)  # 64 MiB of nothing
    )
    bomb = _zip(tmp_path / "bomb.zip", folder)
    assert bomb.stat().st_size < 1024 * 1024
    _refused(bomb, rf"^users\.csv:0:: unpacks to \d+ bytes from \d+, more than {MAX_RATIO} times")


def test_members_that_together_unpack_past_the_cap_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURE, folder)
    archive = _zip(tmp_path / "big.zip", folder, zipfile.ZIP_STORED)
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_STORED) as opened:
        for n in range(3):  # incompressible, so no ratio: each says it unpacks to 100 MB
            opened.writestr(f"extra{n}.csv", os.urandom(1_100_000))
    for n in range(3):
        _patch_headers(archive, f"extra{n}.csv", size=100 * 1024 * 1024)
    _refused(archive, rf"^big\.zip:0:: unpacks to \d+ bytes: more than {MAX_TOTAL} bytes")


@pytest.mark.parametrize(
    ("flags", "method", "reason"),
    [
        (0x1, None, r"^users\.csv:0:: encrypted \(password-protected\)"),
        (0, 9, r"^users\.csv:0:: compressed with Deflate64, which cannot be read"),
        (0, 93, r"^users\.csv:0:: compressed with Zstandard"),
    ],
)
def test_members_zipfile_cannot_read_are_named_with_the_reason(
    tmp_path: Path, flags: int, method: int | None, reason: str
) -> None:
    archive = _zip(tmp_path / "odd.zip", FIXTURE)
    _patch_headers(archive, "users.csv", flags=flags, method=method)
    _refused(archive, reason)


def _with(tmp_path: Path, name: str, content: bytes) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURE, folder)
    (folder / name).write_bytes(content)
    return folder


def _users_text() -> str:
    return (FIXTURE / "users.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(lambda t: t.encode("koi8_r"), id="KOI8-R"),
        pytest.param(lambda t: t.encode("cp1251"), id="cp1251"),
        pytest.param(lambda t: t.encode("utf-16"), id="UTF-16 with a BOM"),
        pytest.param(lambda t: t.encode("utf-16-le"), id="UTF-16 without one"),
    ],
)
def test_legacy_encodings_are_read_as_what_they_are(tmp_path: Path, encoded: object) -> None:
    folder = _with(tmp_path, "users.csv", encoded(_users_text()))  # type: ignore[operator]
    assert parta("roster", "check", str(folder)).returncode == 0
    teacher = load_roster(folder).people[SourcedId("tch-1")]
    assert (teacher.family_name, teacher.given_name) == ("Иванова", "Мария")


def test_a_nul_byte_in_a_name_is_refused_where_it_is(tmp_path: Path) -> None:
    text = _users_text().replace("Мария,Иванова", "Ма\0рия,Иванова", 1)
    folder = _with(tmp_path, "users.csv", text.encode())
    _refused(folder, r"^users\.csv:2:givenName: contains a NUL character$")


def test_org_parents_that_go_round_or_lead_nowhere_are_refused(tmp_path: Path) -> None:
    orgs = (
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        "org-14,,,МАОУ лицей № 14,school,,dist-1\n"
        "dist-1,,,Управление образования,district,,dist-2\n"
        "dist-2,,,Министерство,state,,dist-1\n"
        "org-7,,,Школа № 7,school,,nowhere\n"
    )
    folder = _with(tmp_path, "orgs.csv", orgs.encode())
    lines = _refused(folder, r"^orgs\.csv:3:parentSourcedId: org parents go round in a circle")
    assert any(
        re.search(r"^orgs\.csv:5:parentSourcedId: unknown parent org 'nowhere'", line)
        for line in lines
    ), lines
