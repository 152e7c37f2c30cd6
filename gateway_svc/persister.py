"""The event persister: engine_events -> the Postgres trade ledger, exactly once per event.

Redis delivers at least once (an entry is acked only after its rows commit); the ledger's
primary key on event_seq turns every redelivery into a no-op. Any number of gateway instances
can run one each, under their own consumer names, sharing the `liquidation_group` group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from exchange.v1 import events_pb2
from google.protobuf.message import DecodeError
from sqlalchemy.exc import DataError, IntegrityError

from gateway_svc.db import Database
from gateway_svc.db.stream_consumer import DeadLetter, Entry, StreamConsumer
from mesh.streams import EVENT_GROUP, EVENTS

log = logging.getLogger(__name__)

# Errors that say "this event can never be written", as opposed to "not now".
_UNWRITABLE = (DecodeError, ValueError, IntegrityError, DataError)


class EventPersister(StreamConsumer):
    what = "event persister"

    def __init__(
        self,
        redis: aioredis.Redis,
        db: Database,
        consumer_name: str,
        *,
        claim_idle_ms: int = 30_000,
        claim_every_s: float | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
    ) -> None:
        super().__init__(
            redis,
            consumer_name,
            stream=EVENTS,
            group=EVENT_GROUP,
            batch_size=batch_size,
            block_ms=block_ms,
            claim_idle_ms=claim_idle_ms,
            claim_every_s=claim_every_s,
        )
        self.db = db
        self.written = 0
        self.duplicates = 0

    async def write(self, entries: Sequence[Entry]) -> list[DeadLetter]:
        # One transaction per event: a failure part-way leaves the earlier ones committed,
        # and the redelivered batch skips them by event_seq.
        dead: list[DeadLetter] = []
        for entry in entries:
            if entry.payload is None:
                dead.append(DeadLetter(entry, "entry has no payload"))
                continue
            try:
                event = events_pb2.TradeEvent.FromString(entry.payload)
                new = await self.db.record_trade_event(event)
            except _UNWRITABLE as error:
                dead.append(DeadLetter(entry, f"{type(error).__name__}: {error}"))
                continue
            if new:
                self.written += 1
            else:
                self.duplicates += 1
                log.debug("event %d already recorded; skipping", event.event_seq)
        return dead
