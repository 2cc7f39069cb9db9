"""How fast a participant may write in a call's chat, and how long a line may be. Pure.

A token bucket per person (by Matrix id, not per connection): a burst of ``BURST`` lines,
then one every ``1/RATE`` seconds. A line above it is refused and its author told; nothing
is dropped silently. A second tab, or leaving and coming back, buys no more lines: the
person's bucket is kept until it has filled up again (a full one is the same as a new one).
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

    def _refill(self) -> float:
        now = self.now()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    def full(self) -> bool:
        return self._refill() >= self.capacity

    def take(self) -> bool:
        """Whether one more line may go now (and spend it if so)."""
        if self._refill() < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class Rates:
    """Everybody's buckets in one process, by Matrix id; only those not yet full are kept."""

    now: Callable[[], float]
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, who: str) -> bool:
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full()}
        return self._buckets.setdefault(who, Bucket(self.now)).take()

    def __len__(self) -> int:
        return len(self._buckets)
