"""Synapse's generic workers for ``parta bench day --workers N`` (PostgreSQL and Redis).

::

    the stack's rendered homeserver (``homeserver.workers.generic_workers`` = N)
      ─▶ N × ``python -m synapse.app.generic_worker -c homeserver.yaml -c genericK.yaml``
      ─▶ each healthy (``/health``) ─▶ their base URLs go to the load generators, which
         route reads to them as a reverse proxy would (:mod:`parta.bench.day_route`)

The stack itself starts Synapse's main process only; the workers are this benchmark's,
started after it and stopped before it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import IO

import httpx

from homeserver.render import RenderedHomeserver, RenderedWorker
from kernel.children import die_with_parent

HEALTHY_WITHIN_S = 120.0


class WorkersError(RuntimeError):
    pass


@dataclass
class SynapseWorkers:
    rendered: RenderedHomeserver
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def generic(self) -> tuple[RenderedWorker, ...]:
        return tuple(w for w in self.rendered.workers if w.generic)

    @property
    def urls(self) -> list[str]:
        """Each generic worker's client listener, in the order of their names."""
        return [f"http://127.0.0.1:{w.port}" for w in self.generic]

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items()}

    def start(self) -> None:
        for worker in self.rendered.workers:
            console = (self.rendered.layout.root / f"{worker.name}.console.log").open("ab")
            self._logs.append(console)
            self.processes[worker.name] = subprocess.Popen(  # noqa: S603 - our interpreter
                [
                    *(sys.executable, "-m", "synapse.app.generic_worker"),
                    *("-c", str(self.rendered.config_path), "-c", str(worker.config_path)),
                ],
                cwd=self.rendered.layout.root,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        for worker in self.rendered.workers:
            self._wait_healthy(worker)

    def _wait_healthy(self, worker: RenderedWorker) -> None:
        process = self.processes[worker.name]
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise WorkersError(f"{worker.name} exited; see {self._log(worker)}")
                try:
                    if http.get(f"http://127.0.0.1:{worker.port}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)  # polling a starting process, bounded by the deadline
        raise WorkersError(f"{worker.name} was not healthy in time; see {self._log(worker)}")

    def _log(self, worker: RenderedWorker) -> str:
        return str(self.rendered.layout.worker_log(worker.name))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> SynapseWorkers:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
