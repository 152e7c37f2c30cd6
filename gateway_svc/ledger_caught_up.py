"""Read-your-writes for the ledger's tables: a list read waits for the ledger to catch up.

The ledger writes `trades` and `orders` from the engine's streams a moment after the engine
answers (its linger, up to LEDGER_LINGER_MS, and a commit; seconds in a liquidation storm), so
a client that closes a trade and at once lists its closed trades would not find it there, and
the history would not add up to the balance it was just told. Before such a read,
`LedgerCaughtUp.wait` takes the newest entry of the stream the table is written from and waits
until the ledger's consumer group has written it: delivered to one of its consumers and
acknowledged (`mesh.streams.group_has_done`), which a ledger writer does only after its
transaction has committed (gateway_svc.ledger.stream_consumer). Every answer the caller had
before its read is then in the table. It is the whole stream's newest entry, not the caller's
own: the gateway cannot know which entries are the caller's, so a read pays the ledger's lag,
about its linger at most while the ledger keeps up.

The wait is bounded (CATCH_UP_S, or less when the caller's deadline is nearer): a ledger that
is stopped, stuck or far behind leaves the read to answer with what the table holds. Such a
stall is remembered, and logged once: until the ledger has written past where it stalled,
reads do not wait at all (one look at the group, not a second each).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from mesh.error_text import describe
from mesh.streams import REDIS_ERRORS, entry_id_parts, group_has_done, text

log = logging.getLogger(__name__)

CATCH_UP_S = 1.0
"""The longest a list read waits for the ledger."""
POLL_S = (0.005, 0.1)
"""The first pause between two looks, doubled up to the second."""
DEADLINE_MARGIN_S = 0.1
"""Left of a caller's deadline for the read itself."""


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
        self._stalled: dict[str, tuple[int, int]] = {}  # stream -> the entry it stalled short of

    async def wait(self, stream: str, group: str, time_left_s: float | None = None) -> bool:
        """True once `group` has written every entry `stream` held when called; False if it
        had not within `within_s` (or `time_left_s` less DEADLINE_MARGIN_S), has stalled
        short of an entry since, has no such group (no ledger ever ran), or Redis could not
        say: the caller then reads what is there."""
        budget = self._within_s
        if time_left_s is not None:
            budget = min(budget, time_left_s - DEADLINE_MARGIN_S)
        if budget <= 0:
            return False
        targets: list[tuple[int, int]] = []
        try:
            async with asyncio.timeout(budget):
                return await self._wait(stream, group, targets)
        except TimeoutError:
            # A stall is the ledger's when it had most of the time a read may wait, not only
            # a short deadline's (a gRPC client's under 1 s must not wait on every read).
            if targets and budget >= self._within_s / 2 and stream not in self._stalled:
                self._stalled[stream] = targets[0]
                log.warning(
                    "the ledger had not written %s through %d-%d within %.1f s: list reads "
                    "answer without waiting for it until it has",
                    stream, *targets[0], budget,
                )  # fmt: skip
            return False
        except (*REDIS_ERRORS, ResponseError) as error:
            log.debug("no word on whether the ledger has written %s: %s", stream, describe(error))
            return False

    async def _wait(self, stream: str, group: str, targets: list[tuple[int, int]]) -> bool:
        stalled = self._stalled.get(stream)
        if stalled is not None:
            if await self._written(stream, group, stalled) is not True:
                return False  # still short of where it stalled: no wait to sit out
            del self._stalled[stream]
            log.info("the ledger has written %s past its stall: list reads wait again", stream)
        newest = await self._redis.xrevrange(stream, count=1)
        if not newest:
            return True  # nothing was ever written to it
        target = entry_id_parts(newest[0][0])
        targets.append(target)
        pause, longest = self._poll_s
        while True:
            written = await self._written(stream, group, target)
            if written is not None:
                return written
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)

    async def _written(self, stream: str, group: str, target: tuple[int, int]) -> bool | None:
        """True when written through `target`, None while not yet, False without the group."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(stream)
            pipe.xpending(stream, group)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        groups, pending = replies
        if isinstance(groups, Exception):
            raise groups
        mine = [g for g in groups if text(g["name"]) == group]
        if not mine or isinstance(pending, Exception):
            return False
        oldest_pending = pending["min"] if pending["pending"] else None
        if group_has_done(target, mine[0]["last-delivered-id"], oldest_pending):
            return True
        return None
