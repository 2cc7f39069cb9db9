"""The call bridge: ``python -m call_bridge -c parta.yaml``.

Starts ``call_bridge.workers`` forwarding processes (``python -m call_bridge.worker``),
each ending with this one, then serves the front on ``call_bridge.port``.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import uvicorn

from call_bridge.front import build_front
from kernel.children import die_with_parent
from kernel.config import load_config
from kernel.metrics import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m call_bridge")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "call_bridge.worker", "-c", str(args.config), "-i", str(i)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=die_with_parent,
        )
        for i in range(config.call_bridge.workers)
    ]
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
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=10)


if __name__ == "__main__":
    main()
