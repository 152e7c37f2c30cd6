"""At-least-once stream -> Postgres: the loop shared by the ledger's writers.

A member of a consumer group reads a batch, lets the subclass write it, and XACKs only after
that write has committed. The writes are idempotent, so redelivery (after a crash, a lost ack,
or a claim) writes nothing twice: together that is exactly-once rows.

Recovery:
- On start and after every failure the consumer first re-reads its own pending entries (id 0),
  so nothing it was holding waits for another consumer to claim it.
- Every `claim_every_s` it XAUTOCLAIMs entries that another consumer has left pending longer
  than `claim_idle_ms` (a consumer that died) and processes them the same way.
- Redis or Postgres going away is logged and retried with capped backoff; `run` only returns
  when `stop` is set. An entry that can never be written (malformed payload, impossible data)
  is copied to `<stream>_dead` with the reason and acked, so it cannot block the group.

Lingering: after a live read that returned less than a full batch, the consumer waits
`linger_ms` before reading again (the batch in hand is written meanwhile). The first entry after
idle is written at once and the entries arriving during the wait share the next batch, so at low
load a writer commits one transaction per linger window instead of one per entry. A full batch
never lingers, so a backlog (a liquidation storm) drains without pauses; below that, an entry
may wait up to `linger_ms` longer before it is read.

A restarted ledger keeps its consumer name (see gateway_svc/ledger/main.py), so the first
thing it does is re-read what it held when it died, without waiting for `claim_idle_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import exc

if TYPE_CHECKING:
    from gateway_svc.db.database import Database

from gateway_svc.db.database import is_transient
from gateway_svc.ledger.metrics import LedgerMetrics
from mesh.error_text import describe
from mesh.resp import RespConnection, options_of
from mesh.resp_pipeline import RespPipeline
from mesh.streams import PAYLOAD, REDIS_ERRORS, ensure_group

log = logging.getLogger(__name__)


MAXLEN_DEAD = 100_000
_MAX_CLAIM_ROUNDS = 100


@dataclass(frozen=True)
class Entry:
    id: bytes
    payload: bytes | None  # None when the entry has no payload or was trimmed away


@dataclass(frozen=True)
class DeadLetter:
    entry: Entry
    reason: str


class StreamConsumer:
    """Subclasses implement `write`; everything about Redis lives here."""

    what = "stream consumer"
    writer = ""  # the metrics label
    stream = ""
    group = ""
    default_batch_size = 100
    # Batches written at once, each in its own transaction: while Postgres works on one, this
    # process reads and prepares the next. Writers keep their rows in key order, so two
    # batches touching the same rows wait for each other instead of deadlocking.
    max_in_flight = 2

    def __init__(
        self,
        redis: aioredis.Redis,
        db: Database,
        consumer_name: str,
        *,
        batch_size: int | None = None,
        block_ms: int = 1000,
        linger_ms: int = 0,
        claim_idle_ms: int = 30_000,
        claim_every_s: float | None = None,
        max_backoff_s: float = 5.0,
        metrics: LedgerMetrics | None = None,
    ) -> None:
        self.redis = redis
        self.db = db
        self.consumer = consumer_name
        self.dead_stream = f"{self.stream}_dead"
        self.batch_size = batch_size or self.default_batch_size
        self.block_ms = block_ms
        # One transaction per linger window rather than per entry at low load (module docstring).
        self.linger_s = linger_ms / 1000
        self.claim_idle_ms = claim_idle_ms
        # Claiming more often than entries can become idle only costs round trips.
        self.claim_every_s = claim_every_s if claim_every_s is not None else claim_idle_ms / 2000
        self.max_backoff_s = max_backoff_s
        self.metrics = metrics or LedgerMetrics()
        self.acked = 0
        self.dead_lettered = 0
        self.claimed = 0
        self._blocked = False  # in a blocking read, which a stop may cancel

    async def write(self, entries: Sequence[Entry]) -> list[DeadLetter]:
        """Commit the batch to Postgres, returning entries that can never be written.
        Raise to leave the whole batch pending (it is retried)."""
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> None:
        writing: list[asyncio.Task[None]] = []
        # Reads and acks speak RESP by hand (mesh.resp): redis-py's Python parsing of every
        # entry and its layers per command were a fifth of a ledger's time under load.
        self._reader = RespConnection(options_of(self.redis))
        self._acks = RespPipeline(options_of(self.redis), name=f"{self.what} acks")
        log.info("%s %s: reading %s as group %s", self.what, self.consumer, self.stream, self.group)
        follow = asyncio.create_task(self._follow(stop, writing), name=f"{self.writer} reads")
        interrupt = asyncio.create_task(
            self._interrupt_read(stop, follow), name=f"{self.writer} stops its read"
        )
        try:
            await follow
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not stop.is_set() or (current is not None and current.cancelling()):
                raise  # this run itself is cancelled, not just its read
        finally:
            interrupt.cancel()
            await asyncio.gather(*writing, return_exceptions=True)  # finish (and ack) what is held
            await self._acks.aclose()
            self._reader.close()
        log.info("%s %s: stopped", self.what, self.consumer)

    async def _interrupt_read(self, stop: asyncio.Event, follow: asyncio.Task[None]) -> None:
        """On stop, end a blocking read at once rather than after its block. What Redis gave
        that read and the reader never took stays pending under this consumer's name: the
        next start re-reads it first (or another consumer claims it)."""
        await stop.wait()
        if self._blocked:
            follow.cancel()

    async def _follow(self, stop: asyncio.Event, writing: list[asyncio.Task[None]]) -> None:
        delay = 0.1
        failing = False
        from_own_pending = True  # first drain what this consumer already holds
        cursor = b"0"
        next_claim = 0.0
        group_ready = False
        while not stop.is_set():
            try:
                if not group_ready:
                    await ensure_group(self.redis, self.stream, self.group)
                    group_ready = True
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + self.claim_every_s
                    if await self._claim_abandoned():
                        await _settle(writing)  # their entries are pending too: no re-read
                        from_own_pending, cursor = True, b"0"
                if from_own_pending:
                    entries = await self._read(cursor, block_ms=None)
                    if not entries:
                        from_own_pending = False
                        continue
                    cursor = entries[-1].id
                else:
                    if stop.is_set():  # set since the loop's check: no read to cancel then
                        break
                    self._blocked = True
                    try:
                        entries = await self._read(b">", block_ms=self.block_ms)
                    finally:
                        self._blocked = False
                for task in [task for task in writing if task.done()]:
                    writing.remove(task)
                    task.result()  # a failed write raises here
                while len(writing) >= self.max_in_flight:
                    await writing.pop(0)
                if entries:
                    writing.append(asyncio.create_task(self._process(entries)))
                # Only after a live read: re-reading what it holds (recovery) never waits.
                if not from_own_pending and 0 < len(entries) < self.batch_size and self.linger_s:
                    await _sleep_unless_stopped(stop, self.linger_s)
            except Exception as error:
                # Whatever else is in flight ends first, so re-reading from 0 finds each
                # entry once; its failure (the same outage, usually) is this one.
                await asyncio.gather(*writing, return_exceptions=True)
                writing.clear()
                if isinstance(error, ResponseError) and "NOGROUP" in str(error):
                    # Redis lost the group (restarted without its data): make it again.
                    log.warning("%s: group %s is gone; recreating it", self.what, self.group)
                    group_ready = False
                else:
                    self._log_failure(error, delay)
                    failing = True
                    await _sleep_unless_stopped(stop, delay)
                    delay = min(delay * 2, self.max_backoff_s)
                from_own_pending, cursor = True, b"0"
                continue
            if failing:
                log.info("%s: recovered; processing again", self.what)
                failing, delay = False, 0.1

    async def _read(self, start: bytes, block_ms: int | None) -> list[Entry]:
        block = () if block_ms is None else ("BLOCK", block_ms)
        reply: Any = await self._reader.blocking(
            block_ms, "XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", self.batch_size,
            *block, "STREAMS", self.stream, start,
        )  # fmt: skip
        if not reply:
            return []
        _stream, items = reply[0]
        return [Entry(entry_id, _payload(fields)) for entry_id, fields in items]

    async def _process(self, entries: list[Entry]) -> None:
        started = time.perf_counter()
        dead = await self.write(entries)
        acked = [entry.id for entry in entries]
        if not dead:
            await self._acks.call("XACK", self.stream, self.group, *acked)  # no MULTI needed
        else:
            await self._dead_letter_and_ack(dead, acked)
        self.acked += len(entries)
        self.dead_lettered += len(dead)
        self.metrics.batch_size.labels(self.writer).observe(len(entries))
        self.metrics.batch_seconds.labels(self.writer).observe(time.perf_counter() - started)
        if dead:
            self.metrics.dead_letters.labels(self.writer).inc(len(dead))

    async def _dead_letter_and_ack(self, dead: list[DeadLetter], acked: list[bytes]) -> None:
        # Dead letters and acks in one MULTI: an entry is never acked without its copy.
        async with self.redis.pipeline(transaction=True) as pipe:
            for letter in dead:
                log.error(
                    "%s: dead-lettering %s to %s: %s",
                    self.what,
                    letter.entry.id.decode(),
                    self.dead_stream,
                    letter.reason,
                )
                pipe.xadd(
                    self.dead_stream,
                    {
                        PAYLOAD: letter.entry.payload or b"",
                        b"id": letter.entry.id,
                        b"error": letter.reason.encode()[:1000],
                    },
                    maxlen=MAXLEN_DEAD,
                    approximate=True,
                )
            pipe.xack(self.stream, self.group, *acked)
            await pipe.execute()

    async def _claim_abandoned(self) -> int:
        """Take over entries idle past claim_idle_ms; the caller then reads them as its own."""
        total = 0
        start: bytes | str = "0-0"
        for _ in range(_MAX_CLAIM_ROUNDS):
            reply: Any = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=start,
                count=self.batch_size,
            )
            start, claimed = reply[0], reply[1]
            total += len(claimed)
            if start in (b"0-0", "0-0"):
                break
        if total:
            log.warning(
                "%s: claimed %d entries left pending over %d ms by a stopped consumer",
                self.what,
                total,
                self.claim_idle_ms,
            )
            self.claimed += total
            self.metrics.claimed.labels(self.writer).inc(total)
        return total

    def _log_failure(self, error: Exception, delay: float) -> None:
        if isinstance(error, REDIS_ERRORS):
            log.warning(
                "%s: redis unavailable (%s); retrying in %.1fs", self.what, describe(error), delay
            )
        elif is_transient(error):
            log.warning(
                "%s: postgres unavailable (%s); retrying in %.1fs",
                self.what,
                describe(error),
                delay,
            )
        elif isinstance(error, exc.ProgrammingError):
            log.error(
                "%s: postgres refused the write (%s); is the schema migrated (`exchange migrate`)?"
                " retrying in %.1fs",
                self.what,
                describe(error),
                delay,
            )
        else:
            log.exception("%s: unexpected failure; retrying in %.1fs", self.what, delay)


def _payload(fields: list[bytes] | None) -> bytes | None:
    """The payload of an entry as hiredis gives it: [field, value, ...], or nil when the entry
    was deleted while pending."""
    flat = fields or []
    for i in range(0, len(flat) - 1, 2):
        if flat[i] == PAYLOAD:
            return flat[i + 1]
    return None


def refusal(error: Exception) -> str:
    """A dead letter's reason for a row the database refused: its class and first line."""
    return describe(error)


async def _settle(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for batches in flight; a failure is raised (the caller's recovery handles it)."""
    while tasks:
        await tasks.pop(0)


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
