"""The second half of a batch: journal sync, then publish, while the loop applies the next.

The loop applies a batch, writes its journal records (not yet durable) and hands the batch
here. The committer takes every batch waiting, makes the journal durable with one fdatasync,
then publishes all their answers, audit records, events and acknowledgements in one
MULTI/EXEC; while it waits for Redis's reply the loop applies the next batch. A batch is taken
only after its records were written, and the sync starts after it is taken, so nothing leaves
before it is journaled. Batches leave in the order they were applied.

The fdatasync runs in the loop's thread: handing it to a worker thread let the loop apply
meanwhile, but cost more CPU per batch (futures, a wake-up across threads) than it saved on a
machine whose two cores the engine shares with Redis and the gateways.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from functools import partial

from engine_svc.service.journal import Journal
from engine_svc.service.metrics import EngineMetrics
from engine_svc.service.outbox import Outbox, check_exec
from mesh import streams
from mesh.resp import RespConnection

DEPTH = 4
"""Applied batches waiting for their commit before the loop waits too."""


@dataclass(slots=True)
class Applied:
    """One applied batch: its outputs and when each of its reads was read and applied."""

    outbox: Outbox
    applied_ns: int
    reads: list[tuple[int, int]] = field(default_factory=list)
    """(entries, read at ns) of each command read in the batch: the stage latencies are the
    commands'."""


async def publish(out: RespConnection, outbox: Outbox) -> None:
    """One transaction; a failure leaves nothing of it published."""
    packed, replies = outbox.packed(time.time_ns() // 1_000_000, time.perf_counter_ns())
    check_exec(await out.call(packed, replies))


class Committer:
    def __init__(self, journal: Journal, out: RespConnection, metrics: EngineMetrics) -> None:
        self.journal = journal
        self.out = out
        self.metrics = metrics
        self._queue: asyncio.Queue[Applied] = asyncio.Queue(DEPTH)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="engine-committer")

    def _check(self) -> None:
        """A committer that failed (not a Redis outage: those it waits out) fails the loop."""
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the committer stopped")

    async def submit(self, batch: Applied) -> None:
        self._check()
        await self._queue.put(batch)

    async def drain(self) -> None:
        """Wait until every submitted batch is synced and published (before the journal
        rotates its segment, and at shutdown)."""
        self._check()
        if self._task is None:
            return
        joined = asyncio.ensure_future(self._queue.join())
        await asyncio.wait({joined, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not joined.done():
            joined.cancel()
            self._check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batches = [await queue.get()]
            while not queue.empty():
                batches.append(queue.get_nowait())
            self.journal.sync()
            if self.journal.fsync:
                self.metrics.fsync.observe(self.journal.last_fsync_s)
            synced_ns = time.perf_counter_ns()
            outbox = batches[0].outbox
            for batch in batches[1:]:
                outbox.extend(batch.outbox)
            await streams.retry_forever(
                "engine: publishing answers", partial(publish, self.out, outbox)
            )
            published_ns = time.perf_counter_ns()
            self._observe(batches, synced_ns, published_ns)
            for _ in batches:
                queue.task_done()

    def _observe(self, batches: list[Applied], synced_ns: int, published_ns: int) -> None:
        stage = self.metrics.stage
        for batch in batches:
            entries = sum(count for count, _ in batch.reads)
            stage["journal_commit"].observe((synced_ns - batch.applied_ns) / 1e9, entries)
            stage["publish"].observe((published_ns - synced_ns) / 1e9, entries)
            for count, read_ns in batch.reads:
                stage["total"].observe((published_ns - read_ns) / 1e9, count)
