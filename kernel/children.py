"""Child processes that end with their parent, even when the parent is SIGKILLed; and
the parent waiting for its own stop signal.

Synapse runs in its own session (so a stop reaches what it forks), which also
means a killed ``parta demo`` or test run would leave it running; Linux's
parent-death signal closes that gap.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A ``preexec_fn``: SIGTERM this child when the process that spawned it dies.

    Linux ties the signal to the spawning *thread*: spawn from the main thread.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
