"""The school the faults are done to: its own stack, on its own ports, and its first sync.

The appservice's store lives on a small disk of its own (a tmpfs of ``STORE_DISK_MB``,
when this process may mount one): the full-disk fault fills it, nothing else.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from appservice.school_sync import SyncOptions
from kernel.config import (
    AppserviceConfig,
    BotsConfig,
    CallBridgeConfig,
    DatabaseConfig,
    DiaryConfig,
    HomeserverConfig,
    SchoolConfig,
)
from parta.bench.faults import Harness
from parta.ports import free_port_block
from parta.stack import SchoolStack, drop_databases
from synthetic.school import generate_school
from web_client.store import DiaryStore

STORE_DISK_MB = 48
"""The store disk's size at the start; each ``store-disk-full`` round grows it by what the
earlier rounds left there (``faults_disk.make_room``)."""
WORKERS = 2
"""The call bridge's pool: the ``bridge-call`` fault kills one, the call goes to the other."""
STUDENTS = 24
"""Two homerooms, their subject groups, teachers and parents: about 30 rooms."""


def fault_config(state: Path, database: str) -> SchoolConfig:
    port = free_port_block(5 + WORKERS)
    return SchoolConfig(
        server_name=f"localhost:{port}",
        state_dir=state,
        homeserver=HomeserverConfig(client_port=port),
        appservice=AppserviceConfig(port=port + 1),
        diary=DiaryConfig(port=port + 2),
        bots=BotsConfig(port=port + 3, poll_seconds=0.5),
        call_bridge=CallBridgeConfig(port=port + 4, workers=WORKERS),
        database=DatabaseConfig(kind="postgres", name_prefix=f"faults_{uuid.uuid4().hex[:8]}")
        if database == "postgres"
        else DatabaseConfig(),
        for_tests=True,  # rate limits off: the faults are the point, not the limiter
    )


def store_disk(state: Path) -> Path | None:
    """A tmpfs for the appservice's SQLite store (``state/appservice.db`` links into it);
    None where this process may not mount (then the full-disk fault says so)."""
    disk = state / "store-disk"
    disk.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(  # noqa: S603 - fixed arguments
        ["mount", "-t", "tmpfs", "-o", f"size={STORE_DISK_MB}m", "tmpfs", str(disk)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        return None
    (state / "appservice.db").symlink_to(disk / "appservice.db")
    return disk


@contextlib.contextmanager
def fault_stack(state: Path, database: str) -> Iterator[SchoolStack]:
    config = fault_config(state, database)
    state.mkdir(parents=True, exist_ok=True)
    disk = store_disk(state) if database == "sqlite" else None
    stack = SchoolStack.for_config(config)
    try:
        with stack:
            yield stack
    finally:
        if disk is not None:
            subprocess.run(["umount", "-l", str(disk)], check=False)  # noqa: S603,S607
        drop_databases(config)
        shutil.rmtree(state / "homeserver" / "media_store", ignore_errors=True)


@contextlib.asynccontextmanager
async def open_harness(
    stack: SchoolStack, work: Path, seed: int, say: Callable[[str], None]
) -> AsyncIterator[Harness]:
    """The stack's school, synced in full (every account joined) before the first fault."""
    diary = generate_school(STUDENTS, seed=seed).diary
    client, store = stack.client(), stack.open_store()
    try:
        school = stack.school_sync(client, store)
        result = await school.run(diary, SyncOptions(eager=True))
        if result.report is not None and result.report.failed:
            raise RuntimeError(f"the first sync failed: {result.report.failed[0]}")
        diaries = DiaryStore.open(stack.config.diary_store_url())
        try:
            diaries.load(diary, generate_school(STUDENTS, seed=seed).timetable)
        finally:
            diaries.close()
        yield Harness(stack, store, client, school, diary, work, random.Random(seed), say)  # noqa: S311
    finally:
        store.close()
        await client.aclose()
