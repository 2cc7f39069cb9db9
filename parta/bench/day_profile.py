"""Where Synapse's main process spends the day (``parta bench day --profile-synapse``).

py-spy samples the thread holding the GIL from outside (no change to Synapse; about 1 % of a
core at ``RATE``) from the morning's end to the last report, and writes collapsed stacks. The
summary is the functions holding the most samples by their own time, and Synapse's handlers,
servlets and storage by all the time under them, as shares of the samples.

::

    py-spy record --pid <synapse> --format raw --rate 25 --nonblocking -o synapse.collapsed
        … the day …  SIGINT → the file  ──summary()──▶ {"samples", "self", "inclusive"}
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 25
"""Samples a second."""
TOP = 12
STOP_S = 30.0
"""How long py-spy may take to write its file once told to stop."""


def summary(collapsed: str, top: int = TOP) -> dict[str, Any]:
    """The top functions of py-spy's collapsed stacks (``frame;frame;… count`` a line, the
    outermost frame first): by own samples (the leaf), and Synapse's own functions by
    inclusive samples (anywhere in the stack, once a stack)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if _synapse_own(frame):
                under[frame] += n

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[frame, round(k / total, 3)] for frame, k in counter.most_common(top)]

    return {
        "samples": total,
        "self": shares(own) if total else [],
        "inclusive": shares(under) if total else [],
    }


_FRAMEWORK = ("synapse/app/", "synapse/metrics/", "synapse/util/", "synapse/logging/")
"""Synapse's start-up, metrics and helpers: under nearly every stack, so they say nothing."""


def _synapse_own(function: str) -> bool:
    """A function of Synapse's handlers, servlets or storage (what the day asks of it)."""
    return "(synapse/" in function and not any(f"({p}" in function for p in _FRAMEWORK)


_LINE = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` → ``name (path/file.py)``: one function, all its lines."""
    found = _LINE.match(frame)
    return f"{found['function']} ({found['file']})" if found else frame


class Profile:
    """py-spy on one process, from :meth:`start` to :meth:`stop`."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        beside = Path(sys.executable).parent / "py-spy"  # the venv's, without it on PATH
        spy = str(beside) if beside.exists() else shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("--profile-synapse needs py-spy (make install puts it in .venv)")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            spy,
            "record",
            "--pid",
            str(self.pid),
            "--format",
            "raw",
            "--rate",
            str(RATE),
            "--nonblocking",
            "--gil",  # the thread holding the GIL: Python's CPU, not its waits
            "--output",
            str(self.out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def stop(self) -> dict[str, Any]:
        """Stop sampling; the summary of what was sampled (``error``: why there is none)."""
        process = self._process
        if process is None:
            return {"error": "not started"}
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                await asyncio.wait_for(process.wait(), STOP_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if not self.out.exists():
            said = (await process.stderr.read()).decode(errors="replace") if process.stderr else ""
            return {"error": f"py-spy wrote nothing (exit {process.returncode}): {said[-300:]}"}
        return summary(self.out.read_text(errors="replace")) | {"file": str(self.out)}
