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


class AddressBuckets:
    """One :class:`TokenBucket` per client address, for limits shared by all of an address's
    connections (a flood spread over many sockets is still one flood).

    Buckets that have refilled completely hold no state worth keeping and are dropped now and
    then, so memory stays bounded by the addresses active in the last ``burst / rate`` seconds.
    """

    # Look for idle buckets to drop after this many new addresses.
    PRUNE_EVERY = 1024

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self._added_since_prune = 0

    def allow(self, address: str) -> bool:
        """Take one token from ``address``'s bucket; False when it is empty."""
        bucket = self.buckets.get(address)
        if bucket is None:
            self._added_since_prune += 1
            if self._added_since_prune >= self.PRUNE_EVERY:
                self.prune()
            bucket = self.buckets[address] = TokenBucket(self.rate, self.burst, clock=self.clock)
        return bucket.allow()

    def prune(self) -> None:
        """Forget addresses whose bucket is full again (they are indistinguishable from new)."""
        now = self.clock()
        full_after = self.burst / self.rate if self.rate > 0 else float("inf")
        self.buckets = {a: b for a, b in self.buckets.items() if now - b.updated < full_after}
        self._added_since_prune = 0
