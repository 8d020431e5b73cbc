"""Token buckets for flood control (per connection and per client address)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` events per second on average with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ConnectionCounter:
    """Open websocket connections per client address, with a cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def try_open(self, address: str) -> bool:
        if self.open.get(address, 0) >= self.limit:
            return False
        self.open[address] = self.open.get(address, 0) + 1
        return True

    def close(self, address: str) -> None:
        remaining = self.open.get(address, 0) - 1
        if remaining > 0:
            self.open[address] = remaining
        else:
            self.open.pop(address, None)
