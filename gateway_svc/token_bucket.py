"""Token buckets: a steady rate with room for a burst.

A bucket holds at most `burst` tokens and gains `rate_per_s` tokens a second; each request
takes one. A client that keeps to the rate is never refused, one that pauses can then burst,
and one that floods is refused with the time until its next token (its Retry-After).

`SharedTokenBuckets` keeps the per-user command limit in Redis, so it holds across every
gateway process; `TokenBucket` is the in-memory kind, for what belongs to one connection.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from gateway_svc.errors import ApiError
from mesh.resp import options_of, pack
from mesh.resp_pipeline import RespPipeline

# What a limiter in Redis raises when Redis cannot answer (refused, timed out, reset...).
LIMITER_ERRORS = (RedisError, OSError)


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


# GCRA: one number per key, the time the bucket will be full again ("theoretical arrival
# time"), in microseconds of Redis's own clock so every gateway process agrees. A bucket full
# again is the same as no key, so the key lives exactly that long. With a second key, a stream,
# the request itself is added to it (XADD MAXLEN ~ ARGV[3], then field and value) in the same
# script when a token was taken, and the answer is the entry's id: a command and its rate limit
# in one round trip, and a refused command never reaches the stream.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
if full_at < now then full_at = now end
-- A clock stepping back must not leave a bucket emptier than empty.
if full_at > now + tolerance then full_at = now + tolerance end
local next_full_at = full_at + interval
local wait = next_full_at - tolerance - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%.0f', next_full_at),
           'PX', math.ceil((next_full_at - now) / 1000))
if #KEYS > 1 then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', ARGV[4], ARGV[5])
end
return 0
"""


class SharedTokenBuckets:
    """One token bucket per key (a user id) in Redis, shared by every gateway process: one
    EVALSHA per request, batched with the other requests of the moment on a connection of its
    own (`RespPipeline`), or folded into the request's own XADD (`packed_take_then_add`). Same
    semantics as `TokenBucket`: `burst` at once, then `rate_per_s`."""

    def __init__(self, redis: aioredis.Redis, rate_per_s: Decimal, burst: int, prefix: str):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate_per_s > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._interval_us = max(1, int(Decimal(1_000_000) / Decimal(str(rate_per_s))))
        self._prefix = prefix
        self._sha = hashlib.sha1(_TAKE.encode()).hexdigest()
        self._redis = RespPipeline(options_of(redis), name=f"rate limit {prefix}")

    async def take(self, key: str) -> float:
        """0.0 when `key` may go ahead, else the seconds until it may. Raises the Redis error
        when Redis cannot be asked: the caller decides how to fail closed."""
        args = (1, self._prefix + key, self._interval_us, self.burst)
        try:
            wait_us = await self._redis.call("EVALSHA", self._sha, *args)
        except ResponseError as exc:
            if not is_noscript(exc):
                raise
            wait_us = await self._redis.call("EVAL", _TAKE, *args)  # and Redis keeps it
        return wait_s(wait_us)

    def packed_take_then_add(
        self, key: str, stream: str, maxlen: int, field: bytes, value: bytes, *, by_sha: bool
    ) -> bytes:
        """One command (`mesh.resp.pack`ed): take a token of `key`, and when one was taken add
        {field: value} to `stream`. Its reply, through `wait_s`, is 0.0 when the entry was
        added. `by_sha=False` sends the script itself, for the NOSCRIPT reply a Redis that
        does not know it yet gives."""
        script = ("EVALSHA", self._sha) if by_sha else ("EVAL", _TAKE)
        return pack(
            *script, 2, self._prefix + key, stream, self._interval_us, self.burst, maxlen,
            field, value,
        )  # fmt: skip

    def refusal(self, wait: float) -> ApiError:
        """RATE_LIMITED for a request `wait` seconds early, with its Retry-After."""
        return ApiError(
            "RATE_LIMITED",
            f"too many requests: at most {self.rate_per_s:g} per second per user "
            f"(bursts of {self.burst})",
            retry_after_s=retry_after_s(wait),
        )

    async def aclose(self) -> None:
        await self._redis.aclose()


def wait_s(reply: object) -> float:
    """The script's answer in seconds to wait: 0.0 when a token was taken (its reply is 0, or
    the added entry's id)."""
    return reply / 1_000_000 if isinstance(reply, int) else 0.0


def is_noscript(reply: object) -> bool:
    """An error reply saying Redis does not know the script by its SHA (a restart, a flush)."""
    return isinstance(reply, ResponseError) and str(reply).startswith("NOSCRIPT")
