"""Free TCP ports for servers the tests and benchmarks start: other runs share this machine."""

from __future__ import annotations

import contextlib
import random
import socket

# Below the kernel's ephemeral range (32768-60999 here): a port the kernel handed out for a
# moment can be taken as the local end of an outgoing connection before our server binds it,
# and a full test run makes thousands of those (a demo then failed to start, found 0 children).
LOW, HIGH = 20000, 32000
_pick = random.SystemRandom()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    for _ in range(200):
        port = _pick.randrange(LOW, HIGH)
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {LOW}-{HIGH}")


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free ports (the call bridge's front and workers)."""
    for _ in range(50):
        first = free_port()
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + count):
                    s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")
