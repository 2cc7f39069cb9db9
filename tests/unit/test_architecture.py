"""The layers stated in pyproject.toml's import-linter contracts hold, and would catch a
forbidden import: the contracts are tried on a copy of the tree with one bad import added."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import appservice

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["kernel", "parta", "synthetic", "homeserver", "appservice", "bots", "call_bridge",
            "web_client"]  # fmt: skip


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_no_contract_makes_exceptions() -> None:
    assert all("ignore_imports" not in c for c in _contracts())


def test_the_forbidden_lists_name_every_module_of_the_appservice_but_its_pure_core() -> None:
    modules = {
        f"appservice.{m.name}"
        for m in pkgutil.iter_modules(appservice.__path__)
        if m.name != "diary_sync"
    }
    for contract in _contracts():
        forbidden = {str(m) for m in contract.get("forbidden_modules", [])}  # type: ignore[attr-defined]
        if any(m.startswith("appservice.") for m in forbidden):
            assert {m for m in forbidden if m.startswith("appservice.")} == modules, contract[
                "name"
            ]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            copy / package,
            ignore=shutil.ignore_patterns("node_modules", "__pycache__", "static", "*.png"),
        )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    linted = _lint(tree)
    assert linted.returncode == 0, linted.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("bots/__init__.py", "import appservice.store", "Layers"),
        ("kernel/ids.py", "import web_client.store", "Layers"),
        ("call_bridge/__init__.py", "import parta.cli", "Layers"),
        ("web_client/__init__.py", "import appservice.school_sync", "only the pure core"),
        ("appservice/diary_sync/model.py", "import httpx", "no I/O"),
        ("parta/stack.py", "import parta.commands", "no circles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, module: str, bad_import: str, contract: str
) -> None:
    path = tree / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{bad_import}  # noqa\n", encoding="utf-8")
        linted = _lint(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert linted.returncode != 0
    broken = linted.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, linted.stdout[-3000:]
