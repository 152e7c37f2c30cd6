"""Token buckets: a steady rate with room for a burst, in memory, per gateway instance.

A bucket holds at most `burst` tokens and gains `rate_per_s` tokens a second; each request
takes one. A client that keeps to the rate is never refused, one that pauses can then burst,
and one that floods is refused with the time until its next token (its Retry-After).

Limits are per process: several gateway instances each allow the full rate. A shared limit
would need Redis; SECURITY.md says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Clock = Callable[[], float]

# Far more users than one instance serves at once; past it, idle buckets are swept early.
MAX_KEYS = 100_000


def retry_after_s(wait_s: float) -> int:
    """Whole seconds for a Retry-After header: rounded up, never 0 (0 invites a hot loop)."""
    return max(1, math.ceil(wait_s))


class TokenBucket:
    __slots__ = ("burst", "rate_per_s", "tokens", "updated")

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate_per_s > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one will be there."""
        # max(): a clock that steps back must not drain the bucket.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_s)
        self.updated = max(now, self.updated)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s

    def full_at(self) -> float:
        """When the bucket is full again: from then on it is the same as a new one."""
        return self.updated + (self.burst - self.tokens) / self.rate_per_s


class TokenBuckets:
    """One bucket per key (a user id). A bucket that has refilled completely is forgotten,
    which changes nothing (a new bucket starts full), so memory follows the keys active in
    the last `burst / rate_per_s` seconds, not every key ever seen."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        TokenBucket(rate_per_s, burst, 0.0)  # check the arguments once, here
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}
        self._refill_s = burst / rate_per_s
        self._swept = clock()

    def take(self, key: str) -> float:
        """0.0 when `key` may go ahead, else the seconds until it may."""
        now = self._clock()
        if now - self._swept >= self._refill_s or len(self._buckets) >= self._max_keys:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate_per_s, self.burst, now)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        self._swept = now
        full = [key for key, bucket in self._buckets.items() if bucket.full_at() <= now]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            # Every key busy at once: a flood from more accounts than any instance serves.
            # Starting over gives each one burst again; growing without bound would be worse.
            self._buckets.clear()
