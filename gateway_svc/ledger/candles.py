"""The candle builder: engine_input price batches -> 1-minute candles in Postgres.

It reads the same stream as the engine under its own group (`candle_group`), so candles are
built from exactly the prices the exchange received. Candle writes are idempotent and
order-independent (see gateway_svc/db/candle_sql.py), so redelivered or claimed batches are
harmless, and each read batch becomes a single transaction: its ticks folded into one row per
(asset, minute) first, then one multi-row upsert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from exchange.v1 import prices_pb2
from google.protobuf.message import DecodeError
from sqlalchemy.exc import DataError, IntegrityError

from gateway_svc.ledger.stream_consumer import DeadLetter, Entry, StreamConsumer
from mesh.streams import CANDLE_GROUP, PRICES

log = logging.getLogger(__name__)

_UNWRITABLE = (ValueError, IntegrityError, DataError)


class CandleBuilder(StreamConsumer):
    what = "candle builder"
    writer = "candles"

    stream = PRICES
    group = CANDLE_GROUP
    default_batch_size = 1000
    ticks = 0

    async def write(self, entries: Sequence[Entry]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        batches: list[tuple[Entry, prices_pb2.PriceBatch]] = []
        for entry in entries:
            if entry.payload is None:
                dead.append(DeadLetter(entry, "entry has no payload"))
                continue
            try:
                batches.append((entry, prices_pb2.PriceBatch.FromString(entry.payload)))
            except DecodeError as error:
                dead.append(DeadLetter(entry, f"DecodeError: {error}"))
        ticks = [tick for _, batch in batches for tick in batch.ticks]
        try:
            await self.db.record_ticks(ticks)
        except _UNWRITABLE:
            # Something in the batch cannot be stored: find it entry by entry.
            for entry, batch in batches:
                try:
                    await self.db.record_ticks(batch.ticks)
                except _UNWRITABLE as error:
                    dead.append(DeadLetter(entry, f"{type(error).__name__}: {error}"))
        self.ticks += len(ticks)
        self.metrics.rows_written.labels(self.writer).inc(len(ticks))  # ticks folded in
        return dead
