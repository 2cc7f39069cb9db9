"""``parta restore`` refuses what it cannot restore faithfully, before it writes anything."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from kernel.config import SchoolConfig
from parta.backup import BackupError, backup, restore


def _archive(tmp_path: Path, manifest: dict[str, object]) -> tuple[Path, Path]:
    identity = x25519.Identity.generate()
    key = tmp_path / "backup.key"
    key.write_text(str(identity), encoding="utf-8")
    data = json.dumps(manifest).encode()
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "school.tar.age"
    archive.write_bytes(pyrage.encrypt(plain.getvalue(), [identity.to_public()]))
    return archive, key


MANIFEST = {"format": 1, "server_name": "school14.example", "database": "sqlite", "databases": []}


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        ({"server_name": "school15.example"}, "a Matrix server keeps its name"),
        ({"database": "postgres"}, "the backup's databases are postgres"),
        ({"format": 99}, "backup format 99"),
    ],
)
def test_a_backup_of_another_kind_is_refused_and_nothing_is_written(
    tmp_path: Path, changed: dict[str, object], says: str
) -> None:
    archive, key = _archive(tmp_path, {**MANIFEST, **changed})
    state = tmp_path / "state"
    config = SchoolConfig(server_name="school14.example", state_dir=state)
    with pytest.raises(BackupError, match=says):
        restore(config, archive, key)
    assert not state.exists() or not any(state.iterdir())


def test_a_backup_needs_a_public_key_and_says_how_to_make_one(tmp_path: Path) -> None:
    config = SchoolConfig(server_name="school14.example", state_dir=tmp_path)
    (tmp_path / "secrets").mkdir()
    with pytest.raises(BackupError, match="parta backup-key"):
        backup(config, tmp_path / "parta.yaml", tmp_path / "out")
    with pytest.raises(BackupError, match="not an age public key"):
        backup(config, tmp_path / "parta.yaml", tmp_path / "out", ("age1nonsense",))
