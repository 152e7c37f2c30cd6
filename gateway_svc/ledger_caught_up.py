"""Read-your-writes for the ledger's tables: a list read waits for the ledger to catch up.

The ledger writes `trades` and `orders` from the engine's streams a moment after the engine
answers (tens of milliseconds; seconds in a liquidation storm), so a client that closes a trade
and at once lists its closed trades would not find it there, and the history would not add up
to the balance it was just told. Before such a read, `LedgerCaughtUp.wait` takes the newest
entry of the stream the table is written from and waits until the ledger's consumer group has
written it: delivered to one of its consumers (last-delivered-id) and acknowledged, which a
ledger writer does only after its transaction has committed (gateway_svc.ledger.stream_consumer).
Every answer the caller had before its read is then in the table.

The wait is bounded (`within_s`): a ledger that is stopped, or far behind, leaves the read to
answer with what the table holds, as before; so does a Redis that cannot say.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from mesh.streams import REDIS_ERRORS

log = logging.getLogger(__name__)

CATCH_UP_S = 1.0
"""The longest a list read waits for the ledger."""
POLL_S = (0.005, 0.1)
"""The first pause between two looks, doubled up to the second."""


def stream_id(raw: bytes | str) -> tuple[int, int]:
    """ "1700000000000-3" -> (1700000000000, 3): stream ids compare as these pairs."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class LedgerCaughtUp:
    def __init__(
        self,
        redis: aioredis.Redis,
        within_s: float = CATCH_UP_S,
        poll_s: tuple[float, float] = POLL_S,
    ) -> None:
        self._redis = redis
        self._within_s = within_s
        self._poll_s = poll_s

    async def wait(self, stream: str, group: str) -> bool:
        """True once `group` has written every entry `stream` held when called; False if it
        had not within `within_s`, has no such group (no ledger ever ran), or Redis could not
        say: the caller then reads what is there."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._within_s
        pause, longest = self._poll_s
        try:
            newest = await self._redis.xrevrange(stream, count=1)
            if not newest:
                return True  # nothing was ever written to it
            target = stream_id(newest[0][0])
            while True:
                written = await self._written(stream, group, target)
                if written is not None:
                    return written
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(pause)
                pause = min(pause * 2, longest)
        except (*REDIS_ERRORS, ResponseError) as error:
            log.debug("could not tell whether the ledger has %s written: %r", stream, error)
            return False

    async def _written(self, stream: str, group: str, target: tuple[int, int]) -> bool | None:
        """True when written through `target`, None while not yet, False without the group."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(stream)
            pipe.xpending(stream, group)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        groups, pending = replies
        if isinstance(groups, Exception):
            raise groups
        mine = [g for g in groups if _text(g.get("name")) == group]
        if not mine or isinstance(pending, Exception):
            return False
        if stream_id(mine[0]["last-delivered-id"]) < target:
            return None
        if pending["pending"] and stream_id(pending["min"]) <= target:
            return None
        return True


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
