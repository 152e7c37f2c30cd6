"""The event persister: engine_events -> the Postgres trade ledger, exactly once per event.

Redis delivers at least once (an entry is acked only after its rows commit); the ledger's
primary key on event_seq turns every redelivery into a no-op. A whole read batch is one
transaction: multi-row inserts into `trade_events`, then the trades its new events touch, each
folded in event order (a batch that opens and closes a trade leaves it closed). Any number of
ledger processes can run, under their own consumer names, sharing the `liquidation_group` group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from exchange.v1 import events_pb2
from google.protobuf.message import DecodeError
from sqlalchemy.exc import DataError, IntegrityError

from gateway_svc.db.trade_ledger import ConflictingEvent, LedgerBatch
from gateway_svc.ledger.stream_consumer import DeadLetter, Entry, StreamConsumer, refusal
from mesh.streams import EVENT_GROUP, EVENTS

log = logging.getLogger(__name__)

# The database refused the rows themselves (a value out of range, say): not a passing outage.
_REFUSED = (IntegrityError, DataError, ConflictingEvent)


class EventPersister(StreamConsumer):
    what = "event persister"
    writer = "events"

    stream = EVENTS
    group = EVENT_GROUP
    default_batch_size = 1000
    written = 0
    duplicates = 0

    async def write(self, entries: Sequence[Entry]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        decoded: list[tuple[Entry, events_pb2.TradeEvent]] = []
        for entry in entries:
            if entry.payload is None:
                dead.append(DeadLetter(entry, "entry has no payload"))
                continue
            try:
                decoded.append((entry, events_pb2.TradeEvent.FromString(entry.payload)))
            except DecodeError as error:
                dead.append(DeadLetter(entry, f"DecodeError: {error}"))
        rejected: list[tuple[int, ValueError]] = []
        events = [event for _, event in decoded]
        batch = LedgerBatch.of(events, rejected)
        dead.extend(DeadLetter(decoded[i][0], f"ValueError: {error}") for i, error in rejected)
        try:
            new = await self.db.record_trade_events(batch)
        except _REFUSED:
            # Something in the batch cannot be stored: find it event by event.
            new = 0
            skip = {i for i, _ in rejected}
            for entry, event in (pair for i, pair in enumerate(decoded) if i not in skip):
                try:
                    new += await self.db.record_trade_events([event])
                except _REFUSED as error:
                    dead.append(DeadLetter(entry, refusal(error)))
        self._count(events, new, len(batch.ledger))
        return dead

    def _count(self, events: Sequence[events_pb2.TradeEvent], new: int, valid: int) -> None:
        self.written += new
        self.duplicates += valid - new
        if valid > new:
            log.debug("event persister: %d events already recorded; skipped", valid - new)
        self.metrics.rows_written.labels(self.writer).inc(new)
        self.metrics.duplicates.labels(self.writer).inc(valid - new)
        if new:
            now_ms = time.time_ns() // 1_000_000
            lag = self.metrics.event_lag
            for event in events:
                if event.ts_ms:
                    lag.observe(max(0, now_ms - event.ts_ms) / 1000)
