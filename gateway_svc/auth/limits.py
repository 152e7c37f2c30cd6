"""A small in-memory sliding-window limiter for sign-in link requests, so nobody can use the
exchange to flood an inbox. Per gateway instance: good enough against abuse through one
front door; a shared limit would need Redis."""

from __future__ import annotations

import time
from collections import deque

from gateway_svc.auth.tokens import Clock

MAX_KEYS = 100_000


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock()
        if len(self._hits) >= MAX_KEYS:
            self._forget_idle(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may be allowed again (0.0 if it may now)."""
        hits = self._hits.get(key)
        if not hits or len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[-self.limit] + self.window_s - self._clock())

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window_s]
        for key in idle:
            del self._hits[key]
        if len(self._hits) >= MAX_KEYS:  # all busy: an attack; start over rather than grow
            self._hits.clear()
