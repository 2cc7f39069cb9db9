"""Run Synapse as a child process and know, not guess, when it is ready.

::

    start() ── Popen(python -m synapse.app.homeserver -c homeserver.yaml)   own session,
       │                                                                   output → console.log
    wait_ready(timeout) ── every poll_interval:
       │    process exited?                           → SynapseExited (with the log tail)
       │    GET  http://<client>/health == 200
       │    and, if federating,
       │    GET  https://<fed>/_matrix/federation/v1/version == 200  → ready
       │    deadline passed?                          → SynapseNotReady (with the log tail)
    stop(timeout) ── SIGTERM to the process group, then SIGKILL

The federation check pins the server's own self-signed certificate as its only trust
anchor, so it proves the TLS listener serves the certificate we rendered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from homeserver.errors import HomeserverError, SynapseExited, SynapseNotReady
from homeserver.render import RenderedHomeserver
from kernel.children import die_with_parent

logger = logging.getLogger(__name__)

_TAIL_BYTES = 16 * 1024
_REQUEST_TIMEOUT = 2.0


class SynapseProcess:
    """One Synapse child process for one rendered state directory.

    As a context manager it starts Synapse and waits for readiness on entry (stopping it
    again if that fails) and stops it on exit.
    """

    def __init__(
        self,
        rendered: RenderedHomeserver,
        *,
        ready_timeout: float = 60.0,
        poll_interval: float = 0.1,
        python: str = sys.executable,
    ) -> None:
        self.rendered = rendered
        self.ready_timeout = ready_timeout
        self.poll_interval = poll_interval
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None
        self._started_at = 0.0
        self.startup_seconds: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Spawn Synapse in its own session, so stopping it also stops anything it forked."""
        if self._process is not None:
            raise HomeserverError(f"Synapse for {self.rendered.server_name} already started")
        layout = self.rendered.layout
        self._console = layout.console_log.open("ab")
        command = [self._python, "-m", "synapse.app.homeserver", "-c", str(layout.config)]
        self._started_at = time.monotonic()
        self._process = subprocess.Popen(  # noqa: S603 - our interpreter, our rendered config
            command,
            cwd=layout.root,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        logger.info("started Synapse %s (pid %d)", self.rendered.server_name, self._process.pid)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll the readiness endpoints until both answer 200, the process dies or time is up."""
        process = self._require_started()
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with httpx.Client(verify=self._tls_context(), timeout=_REQUEST_TIMEOUT) as client:
            while not self._answers(client):
                returncode = process.poll()
                if returncode is not None:
                    raise SynapseExited(returncode, self.log_tail())
                if time.monotonic() >= deadline:
                    raise SynapseNotReady(limit, self.log_tail())
                time.sleep(self.poll_interval)
        self.startup_seconds = time.monotonic() - self._started_at
        logger.info(
            "Synapse %s ready after %.2f s", self.rendered.server_name, self.startup_seconds
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status (None if never run)."""
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("Synapse %s ignored SIGTERM", self.rendered.server_name)
                    _signal_group(process, signal.SIGKILL)
                    process.wait()
        finally:
            if self._console is not None:
                self._console.close()
                self._console = None
        return process.returncode

    def crash(self) -> None:
        """SIGKILL, as a power cut would: no clean-up runs (the fault harness's fault)."""
        process = self._require_started()
        _signal_group(process, signal.SIGKILL)
        process.wait()
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The end of Synapse's console output and log file, for error reports."""
        layout = self.rendered.layout
        parts = [_tail(path, lines) for path in (layout.console_log, layout.log)]
        return "\n".join(part for part in parts if part)

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _require_started(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise HomeserverError(f"Synapse for {self.rendered.server_name} is not started")
        return self._process

    def _tls_context(self) -> ssl.SSLContext | bool:
        if self.rendered.federation_url is None:
            return True
        return ssl.create_default_context(cafile=str(self.rendered.layout.tls_certificate))

    def _answers(self, client: httpx.Client) -> bool:
        urls = [f"{self.rendered.client_url}/health"]
        if self.rendered.federation_url is not None:
            urls.append(f"{self.rendered.federation_url}/_matrix/federation/v1/version")
        return all(_answers_200(client, url) for url in urls)


def _answers_200(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.TransportError:
        return False


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone: nothing left to signal
        os.killpg(process.pid, signum)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace").splitlines()[-lines:]
    return f"[{path.name}]\n" + "\n".join(text) if text else ""
