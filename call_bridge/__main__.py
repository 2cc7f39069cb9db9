"""The call bridge: ``python -m call_bridge -c parta.yaml``.

Starts ``call_bridge.workers`` forwarding processes (``python -m call_bridge.worker``),
each ending with this one, then serves the front on ``call_bridge.port``. A worker that
dies (a crash, ``kill -9``) is started again on its own port; the front places new calls
on the live ones meanwhile, and the people of its calls rejoin from the page.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from call_bridge.front import build_front
from kernel.children import die_with_parent
from kernel.config import load_config
from kernel.metrics import serve

log = logging.getLogger("call_bridge")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m call_bridge")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)

    def spawn(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "call_bridge.worker", "-c", str(args.config), "-i", str(i)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=die_with_parent,
        )

    workers = [spawn(i) for i in range(config.call_bridge.workers)]
    stopping = threading.Event()
    threading.Thread(
        target=supervise, args=(workers, spawn, stopping), name="workers", daemon=True
    ).start()
    serve(config.metrics, "call_bridge")
    try:
        uvicorn.run(
            build_front(config),
            host=config.call_bridge.bind_host,
            port=config.call_bridge.port,
            log_level="warning",
            ws="none",
        )
    finally:
        stopping.set()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=10)


RESTART_S = (1.0, 30.0)
"""A dead worker is started again after 1 s, doubling while it keeps dying, up to 30 s."""
STEADY_S = 60.0
"""A worker that ran this long before dying starts again after the shortest wait."""


def supervise(
    workers: list[subprocess.Popen[bytes]],
    spawn: Callable[[int], subprocess.Popen[bytes]],
    stopping: threading.Event,
) -> None:
    """Start every dead worker again (in place in ``workers``) until ``stopping``."""
    delay = [RESTART_S[0]] * len(workers)
    started = [time.monotonic()] * len(workers)
    due: dict[int, float] = {}
    while not stopping.wait(0.2):
        now = time.monotonic()
        for i, worker in enumerate(workers):
            if worker.poll() is None:
                continue
            if i not in due:
                log.error("call worker %d exited (%s); starting it again", i, worker.returncode)
                if now - started[i] > STEADY_S:  # it had run well: a fresh start
                    delay[i] = RESTART_S[0]
                due[i] = now + delay[i]
                delay[i] = min(delay[i] * 2, RESTART_S[1])
            elif now >= due[i]:
                workers[i] = spawn(i)
                started[i] = now
                del due[i]


if __name__ == "__main__":
    main()
