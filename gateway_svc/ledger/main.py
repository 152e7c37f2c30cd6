"""`exchange ledger`: the process that writes the streams into Postgres.

Three writers, each a member of its stream's consumer group: the event persister
(engine_events -> trade ledger and trades), the candle builder (engine_input -> 1m candles) and
the audit writer (engine_audit -> orders). Plus /metrics on LEDGER_METRICS_PORT, and the
mesh's stream housekeeping: entries every consumer group has acked are trimmed
(mesh.stream_trim). After a batch smaller than a full one, each writer waits LEDGER_LINGER_MS
(default 100) before reading again, so at low load entries share a transaction instead of
taking one each.

The consumer name is stable across restarts (LEDGER_CONSUMER, default `ledger-<hostname>`):
a ledger killed with -9 and started again first re-reads the entries it held and had not
acked, at once rather than after another consumer's claim timeout. Several ledger processes
may share the groups; give each its own LEDGER_CONSUMER (entries a stopped one held are
claimed by the others after `claim_idle_ms`). The consumer name is also the process's name in
its log lines, so the lines of two ledgers (`exchange up` runs LEDGER_WORKERS of them) tell
which one wrote them, under the name Redis lists it by (XINFO CONSUMERS).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import redis.asyncio as aioredis
import uvloop

from gateway_svc.db import Database
from gateway_svc.ledger.audit import AuditWriter
from gateway_svc.ledger.candles import CandleBuilder
from gateway_svc.ledger.metrics import LedgerMetrics, sample_streams, serve
from gateway_svc.ledger.persister import EventPersister
from gateway_svc.ledger.stream_consumer import StreamConsumer
from mesh import logs, streams
from mesh.config import Settings, load_settings, required
from mesh.signals import stop_event_on_signals
from mesh.stream_trim import keep_trimmed

log = logging.getLogger(__name__)


def consumer_name() -> str:
    return os.environ.get("LEDGER_CONSUMER") or f"ledger-{socket.gethostname()}"


def writers(
    redis: aioredis.Redis, db: Database, name: str, metrics: LedgerMetrics, *, linger_ms: int
) -> list[StreamConsumer]:
    return [
        EventPersister(redis, db, name, metrics=metrics, linger_ms=linger_ms),
        AuditWriter(redis, db, name, metrics=metrics, linger_ms=linger_ms),
        CandleBuilder(redis, db, name, metrics=metrics, linger_ms=linger_ms),
    ]


async def run(settings: Settings, stop: asyncio.Event, name: str | None = None) -> None:
    redis_url, database_url = required(
        "ledger", REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url
    )
    name = name or consumer_name()
    metrics = LedgerMetrics()
    # First: a port it cannot have stops the start (a ConfigError) before anything is opened.
    server = serve(metrics, settings.metrics_host, settings.ledger_metrics_port)
    redis = streams.connect(redis_url)
    db = await Database.connect(database_url)
    consumers = writers(redis, db, name, metrics, linger_ms=settings.ledger_linger_ms)
    groups = [(c.stream, c.group) for c in consumers]
    tasks = [asyncio.create_task(c.run(stop), name=c.writer) for c in consumers]
    tasks.append(asyncio.create_task(sample_streams(redis, metrics, groups, stop), name="lag"))
    # Housekeeping for the whole mesh: what every group has acked leaves Redis.
    tasks.append(asyncio.create_task(keep_trimmed(redis_url, stop), name="trim"))
    log.info("ledger %s: writing %s", name, ", ".join(f"{s} ({g})" for s, g in groups))
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopped and task.exception():
            log.error("ledger task %s failed: %s", task.get_name(), task.exception())
    stop.set()  # each writer finishes (and acks) the batch in hand, then returns
    await asyncio.gather(*tasks, return_exceptions=True)
    if server is not None:
        server.shutdown()
        server.server_close()
    await db.close()
    await redis.aclose()


async def _main() -> None:
    await run(load_settings(need_secrets=False), stop_event_on_signals())


def main() -> int:
    logs.setup(consumer_name())
    # uvloop: a storm's batches are many small reads and writes; the stdlib loop's selector
    # and handles were a tenth of the ledger's CPU.
    uvloop.run(_main())
    log.info("ledger stopped cleanly")
    return 0
