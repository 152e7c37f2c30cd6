"""The engine process: streams -> core -> journal -> answers and events.

One loop owns the core. Two reader tasks pull `backend-to-engine` and `engine_input` through
their consumer groups into one inbox (`intake`); the loop takes everything waiting as a batch,
applies it and writes its journal records; the committer (`committer`) then makes them durable
with one fdatasync for every batch waiting (group commit) and publishes their answers (each on
its asker's own stream), audit records and events, and acknowledges their entries, in one
MULTI/EXEC transaction, while the loop applies the next batch. Nothing leaves before its input
is durable. Snapshots are forked now and then (`snapshotting`). While the loop turns, the
engine's heartbeat says so (`heartbeat`), for the gateways' health.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from exchange.v1 import events_pb2

from engine_svc.core.engine import Engine
from engine_svc.core.types import TradeEvent
from engine_svc.service import intake, journal, single_writer
from engine_svc.service.committer import Applied, Committer, publish
from engine_svc.service.convert import answered_trade, event_bytes, event_to_proto
from engine_svc.service.heartbeat import Heartbeat
from engine_svc.service.inputs import apply, decode_command, decode_prices
from engine_svc.service.metrics import EngineMetrics
from engine_svc.service.outbox import Outbox
from engine_svc.service.recovery import recover, snapshot_data
from engine_svc.service.snapshotting import SnapshotKeeper
from mesh import streams
from mesh.assets import ASSET_DECIMALS
from mesh.config import Settings
from mesh.resp import RespConnection
from mesh.stats_lines import StatsLines

log = logging.getLogger(__name__)

BATCH_ENTRIES = 4096
"""Entries applied together at most: one journal commit and one publish for all of them."""


def _entry_key(entry_id: bytes) -> tuple[int, int]:
    millis, _, seq = entry_id.partition(b"-")
    return int(millis), int(seq or 0)


class EngineService:
    def __init__(self, settings: Settings, redis_url: str, consumer: str = "engine-1") -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.consumer = consumer
        self.assets: Mapping[str, int] = dict(ASSET_DECIMALS)
        self.snapshot_dir = Path(settings.snapshot_dir)
        self.journal_dir = self.snapshot_dir / "journal"
        self.engine: Engine | None = None
        self.last_ids: dict[int, bytes] = {}
        self.journal = journal.Journal(self.journal_dir, fsync=settings.journal_fsync)
        self._counts = {"commands": 0, "price_batches": 0, "events": 0, "batches": 0}
        self._stats = StatsLines(time.monotonic(), (0, 0))
        """When the stats line is due: its work is (commands, events)."""
        self._out = RespConnection(redis_url)
        """The connection every batch's transaction goes out on."""
        self.metrics = EngineMetrics()
        self.metrics.watch(lambda: len(self.engine.positions) if self.engine else 0)
        self.keeper = SnapshotKeeper(
            self.snapshot_dir,
            self.journal,
            settings.max_snapshots,
            self.metrics,
            self._snapshot_data,
            settings.snapshot_interval_ms / 1000,
        )

    # ---- engine construction ----------------------------------------------------------------

    def new_engine(self) -> Engine:
        return Engine(
            self.assets,
            maintenance_margin_ppm=self.settings.maintenance_margin_ppm,
            max_open_trades_per_user=self.settings.max_open_trades_per_user,
            max_pending_orders_per_user=self.settings.max_pending_orders_per_user,
            idempotency_per_user=self.settings.idempotency_per_user,
        )

    def restore_engine(self, data: dict[str, Any]) -> Engine:
        return Engine.restore(
            data,
            self.assets,
            maintenance_margin_ppm=self.settings.maintenance_margin_ppm,
            max_open_trades_per_user=self.settings.max_open_trades_per_user,
            max_pending_orders_per_user=self.settings.max_pending_orders_per_user,
            idempotency_per_user=self.settings.idempotency_per_user,
        )

    # ---- main loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        lock = await single_writer.hold(self.snapshot_dir, stop)
        if lock is None:
            return  # stopped while another engine held the folder
        try:
            await self._run_holding(stop)
        finally:
            lock.release()

    async def _run_holding(self, stop: asyncio.Event) -> None:
        self.metrics.serve(self.settings.metrics_host, self.settings.engine_metrics_port)
        recovered = recover(
            self.snapshot_dir, self.journal_dir, self.new_engine, self.restore_engine, self.assets
        )
        self.engine = recovered.engine
        self.last_ids = recovered.last_ids
        if recovered.snapshot is not None:  # the snapshot's age counts from when it was written
            self.metrics.last_snapshot_at = recovered.snapshot.stat().st_mtime
        if recovered.snapshot is not None and recovered.replayed == 0:
            self.keeper.last_seq = self.engine.seq  # that snapshot already says it all
        self.journal.open(self.engine.seq)
        client = streams.connect(self.redis_url)
        ready = False
        try:
            ready = await self._prepare(client, recovered.events, stop)
            if ready:
                await self._serve(client, stop)
        finally:
            # Stopped before Redis answered: the recovered events may not be republished yet,
            # and a final snapshot would hide them from the next start's replay. The journal
            # already holds everything, so the next start replays and republishes them.
            await self._shutdown(final_snapshot=ready)
            await client.aclose()
            self._out.close()

    async def _prepare(
        self, client: aioredis.Redis, recovered_events: list[TradeEvent], stop: asyncio.Event
    ) -> bool:
        """Consumer groups and the republish, waiting for Redis as long as it takes unless a
        stop comes first. True when done, False when stopped."""

        async def prepare() -> None:
            await streams.retry_forever("engine: consumer groups", lambda: self._groups(client))
            await self._republish(client, recovered_events)

        preparing = asyncio.create_task(prepare(), name="engine-prepare")
        stopping = asyncio.create_task(stop.wait(), name="engine-stop")
        await asyncio.wait({preparing, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not preparing.done():
            preparing.cancel()
            await asyncio.gather(preparing, return_exceptions=True)
            log.info("engine: stopped before redis answered; the journal keeps every input")
            return False
        preparing.result()  # a failure other than Redis being away propagates
        return True

    async def _groups(self, client: aioredis.Redis) -> None:
        if self._engine.seq == 0:
            await self._warn_if_state_is_missing(client)
        await streams.ensure_group(client, streams.COMMANDS, streams.COMMAND_GROUP)
        await streams.ensure_group(client, streams.PRICES, streams.PRICE_GROUP)

    async def _serve(self, client: aioredis.Redis, stop: asyncio.Event) -> None:
        inbox: asyncio.Queue[intake.Read] = asyncio.Queue(intake.INBOX_READS)
        url, consumer = self.redis_url, self.consumer
        heartbeat = Heartbeat(client, self.settings.engine_heartbeat_timeout_ms)
        tasks = [
            asyncio.create_task(
                intake.read_into(
                    url, consumer, streams.COMMANDS, streams.COMMAND_GROUP, inbox, stop
                )
            ),
            asyncio.create_task(
                intake.read_into(url, consumer, streams.PRICES, streams.PRICE_GROUP, inbox, stop)
            ),
            asyncio.create_task(self.metrics.sample_lag(url, stop)),
            asyncio.create_task(heartbeat.run(stop), name="engine-heartbeat"),
        ]
        committer = Committer(self.journal, self._out, self.metrics)
        committer.start()
        interval_s = self.settings.snapshot_interval_ms / 1000
        next_snapshot = time.monotonic() + interval_s
        log.info("engine ready at seq %d", self._engine.seq)
        try:
            while not stop.is_set():
                heartbeat.turned()  # at least every half second: _next_batch waits no longer
                reads = await self._next_batch(inbox, max(0.0, next_snapshot - time.monotonic()))
                if reads:
                    await committer.submit(self._apply(reads))
                self.keeper.reap()
                now = time.monotonic()
                if now >= next_snapshot:
                    # Only published batches under a snapshot: the journal before it is never
                    # replayed, so an event not yet published would never be.
                    await committer.drain()
                    self.keeper.start(self._engine.seq)
                    next_snapshot = now + interval_s
                self._log_stats_if_due(now)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await committer.drain()
            finally:
                await committer.stop()

    async def _warn_if_state_is_missing(self, client: aioredis.Redis) -> None:
        """An engine with nothing in its folder, on a Redis where an engine consumed commands
        before, has most likely lost its state (SNAPSHOT_DIR moved, wiped, or another
        exchange's): the accounts it forgot, and the event numbers it will hand out again,
        which the ledger refuses as conflicts. Said loudly; the start goes on (a deliberate
        fresh start on an old Redis looks the same)."""
        try:
            groups = await client.xinfo_groups(streams.COMMANDS)
        except aioredis.ResponseError:
            return  # no such stream: nothing ran here before
        for group in groups:  # field names as str, values as bytes (decode_responses off)
            last = group.get("last-delivered-id", b"0-0")
            if group.get("name") == streams.COMMAND_GROUP.encode() and last != b"0-0":
                log.error(
                    "engine: starting empty (no snapshot or journal in %s), but an engine has "
                    "consumed commands from this Redis before (up to %s): if this exchange has "
                    "history, SNAPSHOT_DIR is the wrong folder or was lost; stop, and point it "
                    "at the engine's folder",
                    self.snapshot_dir, last.decode(),
                )  # fmt: skip

    @property
    def _engine(self) -> Engine:
        assert self.engine is not None, "engine used before recovery"
        return self.engine

    async def _next_batch(
        self, inbox: asyncio.Queue[intake.Read], wait_s: float
    ) -> list[intake.Read]:
        """Every read waiting (at least one, unless `wait_s` passes first), up to
        BATCH_ENTRIES entries: one journal commit and one publish for all of them."""
        if inbox.empty():  # wait_for costs a task and a timer: only when there is nothing yet
            try:
                first = await asyncio.wait_for(inbox.get(), timeout=min(wait_s, 0.5) or 0.001)
            except TimeoutError:
                return []
        else:
            first = inbox.get_nowait()
        reads = [first]
        entries = len(first[1])
        while entries < BATCH_ENTRIES:
            try:
                read = inbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            reads.append(read)
            entries += len(read[1])
        return reads

    def _apply(self, reads: list[intake.Read]) -> Applied:
        """Apply a batch and write (not yet sync) its journal records; the committer does the
        rest."""
        started_ns = time.perf_counter_ns()
        engine, assets, journal_log = self._engine, self.assets, self.journal
        outbox = Outbox()
        answers, audits, events = outbox.answers, outbox.audits, outbox.events
        inbox_wait = self.metrics.stage["inbox_wait"]
        commands = price_batches = 0
        for stream, entries, read_ns in reads:
            outbox.acks.setdefault(stream, []).extend([entry[0] for entry in entries])
            is_command = stream == streams.COMMANDS
            if is_command:  # the stage latencies are the commands' (price batches are not)
                inbox_wait.observe((started_ns - read_ns) / 1e9, len(entries))
            for entry_id, fields in entries:
                payload = intake.payload_of(fields)
                if payload is None:
                    continue
                before = engine.seq
                if is_command:
                    decoded = decode_command(payload, assets)
                    commands += 1
                    kind = journal.KIND_COMMAND
                else:
                    if self._already_applied(journal.KIND_PRICES, entry_id):
                        continue
                    decoded = decode_prices(payload, assets)
                    price_batches += 1
                    kind = journal.KIND_PRICES
                applied = apply(engine, decoded, assets)
                if applied.changed:
                    journal_log.append_entry(before, kind, entry_id, payload)
                    self.last_ids[kind] = entry_id
                result = applied.result
                if result is not None:
                    data = result.SerializeToString()
                    if applied.reply_to:
                        answers.append((applied.reply_to, decoded.user_id, data))
                    if decoded.audited:
                        audits.append((payload, data, read_ns))
                if applied.events:
                    view, trade = answered_trade(applied.data, result) if result else (None, None)
                    for event in applied.events:
                        same = trade if event.trade is view else None
                        events.append(event_bytes(event, assets, same))
        journal_log.write()
        applied_ns = time.perf_counter_ns()
        # Each command read's size and time, for the stage latencies (commands only).
        reads_done = [
            (len(entries), read_ns)
            for stream, entries, read_ns in reads
            if stream == streams.COMMANDS
        ]
        command_entries = sum(count for count, _ in reads_done)
        self.metrics.stage["apply"].observe((applied_ns - started_ns) / 1e9, command_entries)
        self.metrics.batch_size.observe(sum(len(entries) for _, entries, _ in reads))
        self.metrics.commands.inc(commands)
        self.metrics.price_batches.inc(price_batches)
        self.metrics.events.inc(len(events))
        counts = self._counts
        counts["commands"] += commands
        counts["price_batches"] += price_batches
        counts["events"] += len(events)
        counts["batches"] += 1
        return Applied(outbox, applied_ns, reads_done)

    def _already_applied(self, kind: int, entry_id: bytes) -> bool:
        last = self.last_ids.get(kind)
        return last is not None and _entry_key(entry_id) <= _entry_key(last)

    async def _republish(self, client: aioredis.Redis, events: list[TradeEvent]) -> None:
        """Events of replayed inputs may never have reached the stream before the crash.
        Publish those past the stream's newest event; the persister is idempotent anyway."""
        if not events:
            return

        async def newest_published() -> int:
            last = await client.xrevrange(streams.EVENTS, count=1)
            if not last:
                return 0
            return int(events_pb2.TradeEvent.FromString(last[0][1][streams.PAYLOAD]).event_seq)

        newest = await streams.retry_forever("engine: reading events", newest_published)
        missing = [e for e in events if e.event_seq > newest]
        if missing:
            log.info("engine: republishing %d events the crash kept from the stream", len(missing))
            outbox = Outbox()
            outbox.events.extend(
                event_to_proto(e, self.assets).SerializeToString() for e in missing
            )
            await streams.retry_forever("engine: republishing", lambda: publish(self._out, outbox))

    def _snapshot_data(self) -> dict[str, Any]:
        return snapshot_data(self._engine, self.last_ids)

    async def _shutdown(self, *, final_snapshot: bool) -> None:
        """Finish the snapshot in flight, write a final one (if asked), close the journal."""
        self.keeper.reap(block=True)
        self.journal.commit()
        if final_snapshot and self.engine is not None:
            self.keeper.write_final(self.engine.seq)
        self.journal.close()

    def _log_stats_if_due(self, now: float) -> None:
        """The stats line, every 10 s while commands or events come (mesh.stats_lines). Price
        batches alone are a market nobody trades on: the line then comes every few minutes."""
        c = self._counts
        if self._stats.due(now, (c["commands"], c["events"])):
            self._log_stats()

    def _log_stats(self) -> None:
        c = self._counts
        log.info(
            "engine: seq %d, %d commands, %d price batches, %d events in %d batches, "
            "journal %d records / %d commits",
            self._engine.seq,
            c["commands"],
            c["price_batches"],
            c["events"],
            c["batches"],
            self.journal.records_written,
            self.journal.commits,
        )
