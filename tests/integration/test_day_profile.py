"""``parta bench day --profile-synapse``'s sampler against a real process: py-spy finds the
function a busy Python process spends its time in."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from parta.bench.day_profile import Profile

pytestmark = pytest.mark.integration

BUSY = """
import sys, time
def spin_here():
    print("ready", flush=True)
    while True:
        sum(i * i for i in range(1000))
spin_here()
"""


async def test_a_busy_process_s_own_function_leads_the_profile(tmp_path: Path) -> None:
    busy = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BUSY, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert busy.stdout is not None
        assert await asyncio.wait_for(busy.stdout.readline(), 30) == b"ready\n"
        profile = Profile(busy.pid, tmp_path / "busy.collapsed")
        await profile.start()
        await asyncio.sleep(2)  # the sampling's length, not a wait for readiness
        found = await profile.stop()
    finally:
        busy.kill()
        await busy.wait()
    assert "error" not in found, found
    assert found["samples"] > 10
    leading = dict(found["self"])
    assert sum(v for k, v in leading.items() if "(<string>)" in k) > 0.9, found
