"""Audit lag under load: from a client holding an answer to that command's `orders` row.

The audit trail is written off the request path (issue 11), so a row lands some time after
the answer. During an open-loop run every tenth answered order is watched: a poll of the
orders table every POLL_S finds when its row appears. The figure is the client's view, so it
includes the poll's granularity (at most POLL_S).
"""

from __future__ import annotations

import asyncio
import time

import psycopg

from gateway_svc.db.schema import orders
from launcher.bench.stats import percentile

QUERY = (
    f"SELECT user_id, order_id FROM {orders.name} "
    "WHERE user_id = ANY(%s) AND order_id = ANY(%s)"  # both: the primary key's columns
)
POLL_S = 0.02
GRACE_S = 10.0
"""After the run, how long a watched order may still take before it counts as missing."""


class AuditWatch:
    def __init__(self, database_url: str, user_ids: list[str], every: int = 10) -> None:
        """`user_ids` by the index a TradeCycle reports answers with."""
        self.database_url = database_url
        self.user_ids = user_ids
        self.every = every
        self.seen = 0
        self.pending: dict[tuple[str, str], float] = {}
        self.lags_ms: list[float] = []
        self.missing = 0

    def answered(self, user_index: int, order_id: str) -> None:
        """Called with each successful answer; one in `every` is watched."""
        self.seen += 1
        if self.seen % self.every == 0:
            self.pending[(self.user_ids[user_index], order_id)] = time.perf_counter()

    async def run(self, load_done: asyncio.Event) -> None:
        """Poll until the load is over and every watched row is found (or GRACE_S passed)."""
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as db:
            grace_until: float | None = None
            while True:
                if load_done.is_set() and grace_until is None:
                    grace_until = time.perf_counter() + GRACE_S
                if self.pending:
                    await self._poll(db)
                if grace_until is not None and (
                    not self.pending or time.perf_counter() > grace_until
                ):
                    break
                await asyncio.sleep(POLL_S)
        self.missing = len(self.pending)

    async def _poll(self, db: psycopg.AsyncConnection) -> None:
        users = list({user for user, _ in self.pending})
        orders = [order for _, order in self.pending]
        cursor = await db.execute(QUERY, (users, orders))
        now = time.perf_counter()
        for user_id, order_id in await cursor.fetchall():
            answered_at = self.pending.pop((user_id, order_id), None)
            if answered_at is not None:
                self.lags_ms.append((now - answered_at) * 1000)

    def p99_ms(self) -> float:
        return percentile(sorted(self.lags_ms), 0.99)
