"""The event persister: engine_events -> the Postgres trade ledger, exactly once per event.

Redis delivers at least once (an entry is acked only after its rows commit); the ledger's
primary key on event_seq turns every redelivery into a no-op. Any number of gateway instances
can run one each, under their own consumer names, sharing the `liquidation_group` group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from exchange.v1 import events_pb2
from google.protobuf.message import DecodeError
from sqlalchemy.exc import DataError, IntegrityError

from gateway_svc.ledger.stream_consumer import DeadLetter, Entry, StreamConsumer
from mesh.streams import EVENT_GROUP, EVENTS

log = logging.getLogger(__name__)

# Errors that say "this event can never be written", as opposed to "not now".
_UNWRITABLE = (DecodeError, ValueError, IntegrityError, DataError)


class EventPersister(StreamConsumer):
    what = "event persister"

    stream = EVENTS
    group = EVENT_GROUP
    default_batch_size = 100
    written = 0
    duplicates = 0

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
