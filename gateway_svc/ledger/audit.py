"""The audit writer: engine_audit -> one `orders` row per answered command, exactly once.

The engine publishes a CommandAudit for every state-changing command it answers, in journal
order, after the journal commit; this consumer group (`audit_group`) writes them a batch per
transaction. The orders key (user_id, order_id) is the engine's idempotency key: a record
published again (the engine answering a redelivered command after a crash, a client retrying
an order id) finds its row and writes nothing, while another user's command with the same
order id gets its own row. Audit rows thus no longer depend on the gateway that asked staying
alive between the answer and an insert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from exchange.v1 import audit_pb2
from google.protobuf.message import DecodeError
from sqlalchemy.exc import DataError, IntegrityError

from gateway_svc.db import OrderRow
from gateway_svc.ledger.audit_rows import order_row
from gateway_svc.ledger.stream_consumer import DeadLetter, Entry, StreamConsumer, refusal
from mesh.streams import AUDIT, AUDIT_GROUP

log = logging.getLogger(__name__)

_REFUSED = (IntegrityError, DataError)


class AuditWriter(StreamConsumer):
    what = "audit writer"
    writer = "audit"

    stream = AUDIT
    group = AUDIT_GROUP
    default_batch_size = 1000
    written = 0
    duplicates = 0

    async def write(self, entries: Sequence[Entry]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        rows: list[tuple[Entry, OrderRow, int]] = []
        for entry in entries:
            if entry.payload is None:
                dead.append(DeadLetter(entry, "entry has no payload"))
                continue
            try:
                audit = audit_pb2.CommandAudit.FromString(entry.payload)
                rows.append((entry, order_row(audit), audit.answered_at_ms))
            except (DecodeError, ValueError) as error:
                dead.append(DeadLetter(entry, f"{type(error).__name__}: {error}"))
        try:
            new = await self.db.record_orders([row for _, row, _ in rows])
        except _REFUSED:
            new = 0  # something in the batch cannot be stored: find it row by row
            for entry, row, _ in rows:
                try:
                    new += await self.db.record_orders([row])
                except _REFUSED as error:
                    dead.append(DeadLetter(entry, refusal(error)))
        self._count(len(rows), new, [answered for _, _, answered in rows])
        return dead

    def _count(self, valid: int, new: int, answered_at_ms: list[int]) -> None:
        self.written += new
        self.duplicates += valid - new
        self.metrics.rows_written.labels(self.writer).inc(new)
        self.metrics.duplicates.labels(self.writer).inc(valid - new)
        if new:
            now_ms = time.time_ns() // 1_000_000
            for answered in answered_at_ms:
                if answered:
                    self.metrics.audit_lag.observe(max(0, now_ms - answered) / 1000)
