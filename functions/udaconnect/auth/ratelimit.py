"""Rate limits per device and per token: a token bucket per key, in each process (a replica limits what it
serves; N replicas let N times as much through, which bounds a flood without a shared store)."""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from udaconnect.errors import TooManyRequests

#: An organizer's requests may come this much faster than a device's or an attendee's (an import, a replay).
ORGANIZER_SCALE = 10.0
#: Keys kept per limiter; past it the longest idle half are forgotten (a forgotten key starts full).
MAX_KEYS = 50_000


class Limiter:
    """`rate` per second per key (requests, or what they cost: fixes), with bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int, what: str) -> None:
        self.rate, self.burst, self.what = rate, max(1, burst), what
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def ensure(self, key: str, scale: float = 1.0) -> None:
        """TooManyRequests when `key`'s bucket cannot pay for even one more (checked before any parsing)."""
        self.take(key, 1.0, scale, spend=False)

    def take(self, key: str, cost: float = 1.0, scale: float = 1.0, spend: bool = True) -> None:
        """Spend `cost` from `key`'s bucket (`scale` times the rate and burst), or TooManyRequests."""
        if self.rate <= 0:
            return
        rate, burst = self.rate * scale, self.burst * scale
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                raise TooManyRequests(f"too many {self.what}: at most {rate:g} per second (bursts of {burst:g})",
                                      (cost - tokens) / rate)
            self._buckets[key] = (tokens - cost if spend else tokens, now)
            if len(self._buckets) > MAX_KEYS:
                idle = sorted(self._buckets, key=lambda k: self._buckets[k][1])[: MAX_KEYS // 2]
                for stale in idle:
                    del self._buckets[stale]


@lru_cache(maxsize=8)
def limiter(rate: float, burst: int, what: str) -> Limiter:
    """The process's one limiter for `what` at this rate and burst (settings may differ between tests)."""
    return Limiter(rate, burst, what)
