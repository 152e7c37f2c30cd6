"""Sign-in link limits, kept in Redis so they hold across every gateway process: at most
SIGNIN_LINKS_PER_CLIENT and SIGNIN_LINKS_PER_EMAIL links per SIGNIN_LINK_WINDOW_S, so nobody
can use the exchange to flood an inbox.

The mailbox's count can be spent by anyone who knows the address, so it must not lock its
owner out: a client (an address key) that has completed a sign-in to the mailbox is held only
by its own share of that count (the same number, for it and the mailbox), and strangers
spending the mailbox's leave it alone.

Each key is a sorted set of the request times in its window (at most `limit` of them, since
a refused request adds none) that expires with its newest entry: memory follows the clients
of the last window, and no key is ever cleared to make room for another.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from gateway_svc.auth.mailbox import mailbox_key
from mesh.client_keys import address_key

# KEYS[1]: the client's count; KEYS[2]: the mailbox's; KEYS[3]: the client's share of the
# mailbox's, which counts instead of KEYS[2] when the client is in the set KEYS[4] (ARGV[4]
# names it). ARGV[1]: the window in microseconds; ARGV[2], ARGV[3]: the client's and the
# mailbox's limits. Either every counted key takes the request or none does; the answer is
# the wait in microseconds.
_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local mailbox = KEYS[2]
if redis.call('SISMEMBER', KEYS[4], ARGV[4]) == 1 then mailbox = KEYS[3] end
local counted = {{KEYS[1], tonumber(ARGV[2])}, {mailbox, tonumber(ARGV[3])}}
local wait = 0
for _, pair in ipairs(counted) do
  local key, limit = pair[1], pair[2]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, -limit, -limit, 'WITHSCORES')
    local key_wait = tonumber(oldest[2]) + window - now
    if key_wait > wait then wait = key_wait end
  end
end
if wait > 0 then return wait end
local stamp = string.format('%.0f', now)
for _, pair in ipairs(counted) do
  local key = pair[1]
  -- The count keeps two requests in one microsecond apart.
  redis.call('ZADD', key, now, stamp .. ':' .. redis.call('ZCARD', key))
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
end
return 0
"""


KNOWN_FOR_S = 30 * 24 * 3600
"""How long a completed sign-in keeps its client known to the mailbox (from the latest one)."""


def _known_key(mailbox: str) -> str:
    return f"limit:link:known:{mailbox}"


def _email_key(email: str) -> str:
    # Hashed: the limiter has no need to keep addresses readable in Redis. By mailbox: the
    # `+tag` and case variants of one inbox share its limit.
    return hashlib.blake2b(mailbox_key(email).encode(), digest_size=16).hexdigest()


class SignInLinkLimits:
    def __init__(
        self, redis: aioredis.Redis, per_email: int, per_client: int, window_s: int
    ) -> None:
        if per_email < 1 or per_client < 1 or window_s < 1:
            raise ValueError("sign-in link limits need positive counts and window")
        self.per_email = per_email
        self.per_client = per_client
        self.window_s = window_s
        self._redis = redis
        self._allow = redis.register_script(_ALLOW)

    async def take(self, email: str, client: str) -> float:
        """0.0 when a link may be sent to `email` for `client` (and counts it), else the
        seconds until one may. Raises the Redis error when Redis cannot be asked."""
        mailbox, address = _email_key(email), address_key(client)
        keys = [
            f"limit:link:client:{address}",
            f"limit:link:email:{mailbox}",
            f"limit:link:email:{mailbox}:{address}",
            _known_key(mailbox),
        ]
        args = [self.window_s * 1_000_000, self.per_client, self.per_email, address]
        wait_us = await self._allow(keys=keys, args=args)
        return int(wait_us) / 1_000_000

    async def remember_sign_in(self, email: str, client: str) -> None:
        """`client` completed a sign-in to `email`'s mailbox: from now on its links are counted
        apart from the mailbox's, which strangers can spend."""
        key = _known_key(_email_key(email))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, address_key(client))
            pipe.expire(key, KNOWN_FOR_S)
            await pipe.execute()
