"""A cap on new accounts: at most SIGNUPS_PER_CLIENT_PER_DAY per client address and
SIGNUPS_PER_MAILBOX_PER_DAY per mailbox (its `+tag` and case variants are one), per UTC day,
counted in Redis so the cap holds across every gateway process.

Sign-in link limits stop an inbox from being flooded; they do not stop one client from
turning a stream of throwaway (or `+tag`) addresses into a stream of accounts, each with its
demo balance and its rows. Only the creation of an account counts: a returning user is never
limited here. The client is keyed as for the link limits (an IPv6 one by its /64).

Each key is a counter for one UTC day (Redis's clock) that expires the day after: memory
follows the clients of the day, and nothing is ever cleared to make room.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from gateway_svc.auth.limits import address_key
from gateway_svc.auth.mailbox import mailbox_key

DAY_S = 86_400

# KEYS: the counters' prefixes; ARGV[i]: KEYS[i]'s limit. Either every counter takes the
# sign-up or none does (a refused one must not eat the mailbox's allowance, say). The answer
# is the seconds until the next UTC day when one is full, else 0.
_TAKE = """
local now = tonumber(redis.call('TIME')[1])
local day = math.floor(now / 86400)
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key .. day) or '0')
  if count >= tonumber(ARGV[i]) then return (day + 1) * 86400 - now end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key .. day)
  redis.call('EXPIRE', key .. day, 2 * 86400)
end
return 0
"""


def _mailbox_digest(email: str) -> str:
    # Hashed: the limiter has no need to keep addresses readable in Redis.
    return hashlib.blake2b(mailbox_key(email).encode(), digest_size=16).hexdigest()


class SignupLimits:
    def __init__(self, redis: aioredis.Redis, per_client: int, per_mailbox: int) -> None:
        if per_client < 1 or per_mailbox < 1:
            raise ValueError("sign-up limits need positive counts")
        self.per_client = per_client
        self.per_mailbox = per_mailbox
        self._take = redis.register_script(_TAKE)

    async def take(self, email: str, client: str) -> int:
        """0 when `client` may create an account for `email` (and counts it), else the
        seconds until it may. Raises the Redis error when Redis cannot be asked."""
        keys = [
            f"limit:signup:client:{address_key(client)}:",
            f"limit:signup:mailbox:{_mailbox_digest(email)}:",
        ]
        wait_s = await self._take(keys=keys, args=[self.per_client, self.per_mailbox])
        return int(wait_s)
