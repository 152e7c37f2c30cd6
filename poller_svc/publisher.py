"""Queue of ticks -> PriceBatch entries on `engine_input`, never dropping a tick.

Everything queued (up to a cap) goes out as one batch, so a burst costs one XADD. A batch that
Redis does not take is retried, the same bytes, until it lands; meanwhile the queue fills up
and the source waits behind it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from exchange.v1 import prices_pb2
from redis.exceptions import RedisError

from mesh.assets import ASSET_DECIMALS
from mesh.stats_lines import StatsLines
from mesh.streams import MAXLEN_PRICES, PAYLOAD, PRICES, retry_forever
from poller_svc.sources.tick import Tick

log = logging.getLogger(__name__)

BATCH_CAP = 500


class StreamClient(Protocol):
    """The one call the publisher makes; redis.asyncio.Redis has it."""

    def xadd(self, name: str, fields: Any, *, maxlen: int, approximate: bool) -> Awaitable[Any]: ...


def build_batch(ticks: Sequence[Tick], source: str) -> prices_pb2.PriceBatch:
    batch = prices_pb2.PriceBatch(source=source)
    for tick in ticks:
        scale = ASSET_DECIMALS[tick.asset]
        out = batch.ticks.add(asset=tick.asset, ts_us=tick.ts_us)
        out.bid.units, out.bid.scale = tick.bid, scale
        out.ask.units, out.ask.scale = tick.ask, scale
    return batch


class Publisher:
    def __init__(
        self,
        client: StreamClient,
        queue: asyncio.Queue[Tick],
        source: str,
        *,
        batch_cap: int = BATCH_CAP,
        refused_delay: float = 0.5,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.queue = queue
        self.source = source
        self.batch_cap = batch_cap
        self.refused_delay = refused_delay
        self.sleep = sleep
        self.clock = clock
        self.ticks_published = 0
        self.batches_published = 0
        self._window_ticks = 0
        # Its work, for the stats line, is a backlog: ticks waiting for Redis. A feed flowing
        # at its pace is the poller at rest (a line every few minutes); a backlog, however
        # steady (a queue full at every line), is reported every STATS_EVERY_S, and its end
        # once (_work).
        self._stats = StatsLines(clock(), self._work(0))

    async def run(self) -> None:
        """Forever: wait for a tick, take all that are queued, publish them as one batch.
        `queue.task_done()` only after the batch landed, so `queue.join()` means flushed."""
        while True:
            ticks = [await self.queue.get()]
            while len(ticks) < self.batch_cap:
                try:
                    ticks.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self.publish(ticks)
            for _ in ticks:
                self.queue.task_done()

    async def publish(self, ticks: Sequence[Tick]) -> None:
        payload = build_batch(ticks, self.source).SerializeToString()
        await self._add_until_landed(payload)
        self.ticks_published += len(ticks)
        self.batches_published += 1
        self._report(len(ticks))

    async def _add_until_landed(self, payload: bytes) -> None:
        def add() -> Awaitable[Any]:
            return self.client.xadd(
                PRICES, {PAYLOAD: payload}, maxlen=MAXLEN_PRICES, approximate=True
            )

        delay = self.refused_delay
        while True:
            try:
                # Lost connections and timeouts back off inside retry_forever.
                await retry_forever("publish prices", add)
                return
            except RedisError as exc:
                # A refusal (OOM, READONLY replica during failover) can pass too: keep the
                # batch and try again rather than lose it.
                log.error(
                    "publish prices: redis refused the batch (%s); retrying in %.1fs", exc, delay
                )
                await self.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _work(self, queued: int) -> tuple[bool, int]:
        """With a backlog, the ticks published so far, which every publish moves: a line each
        STATS_EVERY_S even while the backlog stays the same size."""
        return (queued > 0, self.ticks_published if queued else 0)

    def _report(self, count: int) -> None:
        now = self.clock()
        self._window_ticks += count
        queued = self.queue.qsize()
        elapsed = now - self._stats.last_at  # the window this line covers, if it is due
        if not self._stats.due(now, self._work(queued)):
            return
        log.info(
            "published %d ticks in %.0fs (%.1f ticks/s), %d queued",
            self._window_ticks,
            elapsed,
            self._window_ticks / elapsed,
            queued,
        )
        self._window_ticks = 0
