"""How fast a participant may write in a call's chat, and how long a line may be. Pure.

A token bucket per person: a burst of ``BURST`` lines, then one every ``1/RATE`` seconds.
A line above it is refused and its author told; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MAX_LINE = 2000
BURST = 5
RATE = 1.0
"""Lines per second, once the burst is spent."""
TOO_FAST = "Слишком много сообщений подряд: подождите немного (too many messages; wait a moment)"
NOT_MIRRORED = (
    "Чат звонка не сохраняется в чате комнаты: вы не можете писать в этой комнате "
    "(this call's chat stays in the call: you may not post in its room)"
)


@dataclass
class Bucket:
    now: Callable[[], float]
    capacity: float = BURST
    rate: float = RATE
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens, self._at = self.capacity, self.now()

    def take(self) -> bool:
        """Whether one more line may go now (and spend it if so)."""
        now = self.now()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
