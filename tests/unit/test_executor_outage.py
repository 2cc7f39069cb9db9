"""A homeserver that stops answering stops the sync's steps: the first is reported as
unreachable, the rest as not tried (not as a hundred separate failures)."""

from __future__ import annotations

from pathlib import Path

import httpx

from appservice.diary_sync.plan import RegisterPuppet
from appservice.executor import Executor, NotTried
from appservice.store import Store
from kernel.ids import ServerName, UserID
from kernel.matrix import HomeserverUnreachable, MatrixClient


async def test_the_steps_after_the_homeserver_went_silent_are_left_for_the_next_run(
    tmp_path: Path,
) -> None:
    asked: list[httpx.Request] = []

    def silent(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        raise httpx.ConnectError("refused")

    async def sleep(_seconds: float) -> None:
        return None

    client = MatrixClient("http://hs.test", "t", sleep=sleep, transport=httpx.MockTransport(silent))
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", now_ms=lambda: 0)
    try:
        steps = [RegisterPuppet(UserID(f"@parta.p{i}:hs.test"), f"P{i}") for i in range(40)]
        report = await Executor(client, store, ServerName("hs.test"), concurrency=1).execute(steps)
    finally:
        store.close()
    assert len(report.failed) == 40
    assert isinstance(report.failed[0][1], HomeserverUnreachable)
    assert all(isinstance(e, NotTried) for _, e in report.failed[1:])
    assert isinstance(report.gone, HomeserverUnreachable)
    assert len(asked) == 5  # one step's tries, not forty steps' worth
