"""The ledger's /metrics: its own Prometheus registry, served on LEDGER_METRICS_PORT.

Per writer (events, candles, audit): rows written, duplicates skipped, batch sizes and write
times, dead letters, entries claimed from stopped consumers. Per consumer group, sampled every
few seconds from Redis: entries not yet delivered (lag; Redis 7 and later), how far behind the
newest entry in time the group's reading is (every version), and entries delivered but unacked
(pending).
And how far behind real time the rows land: audit lag (now - the engine's answered_at_ms)
and event lag (now - the event's ts_ms), as histograms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mesh.metrics_http import serve_metrics
from mesh.streams import REDIS_ERRORS, entry_id_ms, text

log = logging.getLogger(__name__)

STREAM_SAMPLE_S = 5.0
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 750, 1000)


class LedgerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rows_written = Counter(
            "ledger_rows_written", "New rows written, per writer", ["writer"], registry=r
        )
        self.duplicates = Counter(
            "ledger_duplicates",
            "Entries already written (redelivered or republished), skipped",
            ["writer"],
            registry=r,
        )
        self.batch_size = Histogram(
            "ledger_batch_size",
            "Stream entries per write transaction",
            ["writer"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "ledger_batch_write_seconds",
            "Time to decode, write and commit one batch",
            ["writer"],
            registry=r,
        )
        self.dead_letters = Counter(
            "ledger_dead_letters", "Entries moved to <stream>_dead", ["writer"], registry=r
        )
        self.claimed = Counter(
            "ledger_claimed", "Entries claimed from stopped consumers", ["writer"], registry=r
        )
        self.stream_lag = Gauge(
            "ledger_stream_lag_entries",
            "Entries in the stream not yet delivered to the group (sampled)",
            ["stream", "group"],
            registry=r,
        )
        self.stream_lag_seconds = Gauge(
            "ledger_stream_lag_seconds",
            "Newest entry's id time minus the group's last delivered id time (sampled)",
            ["stream", "group"],
            registry=r,
        )
        self.stream_pending = Gauge(
            "ledger_stream_pending_entries",
            "Entries delivered to the group and not yet acked (sampled)",
            ["stream", "group"],
            registry=r,
        )
        self.audit_lag = Histogram(
            "ledger_audit_lag_seconds",
            "From the engine's answer (answered_at_ms) to its orders row committed",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.event_lag = Histogram(
            "ledger_event_lag_seconds",
            "From a trade event's ts_ms to its ledger row committed",
            buckets=_LAG_BUCKETS,
            registry=r,
        )


def serve(metrics: LedgerMetrics, host: str, port: int) -> WSGIServer | None:
    """Start /metrics in a thread; None when off (port 0). A port it cannot have is a
    ConfigError naming LEDGER_METRICS_PORT (mesh.metrics_http)."""
    return serve_metrics(metrics.registry, host, port, "ledger metrics")


async def sample_streams(
    redis: aioredis.Redis,
    metrics: LedgerMetrics,
    groups: Sequence[tuple[str, str]],
    stop: asyncio.Event,
    every_s: float | None = None,
) -> None:
    """Refresh the lag and pending gauges of each (stream, group) until `stop`."""
    every_s = every_s or STREAM_SAMPLE_S
    while not stop.is_set():
        for stream, group in groups:
            try:
                newest = (await redis.xinfo_stream(stream)).get("last-generated-id")
                infos = await redis.xinfo_groups(stream)
            except REDIS_ERRORS:
                break  # the consumers log the outage; try again next round
            except Exception as error:  # a stream not made yet (ResponseError), say
                log.debug("ledger metrics: cannot sample %s: %s", stream, error)
                continue
            for info in infos:
                if text(info.get("name")) == group:
                    _record_group(metrics, stream, group, info, newest)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


def _record_group(
    metrics: LedgerMetrics, stream: str, group: str, info: dict[str, Any], newest: Any
) -> None:
    metrics.stream_pending.labels(stream, group).set(int(info.get("pending") or 0))
    if info.get("lag") is not None:  # Redis 7 and later count it; 6 does not
        metrics.stream_lag.labels(stream, group).set(int(info["lag"]))
    # Entry ids start with their time in ms: a lag in time that every Redis version gives.
    delivered = info.get("last-delivered-id")
    if newest is not None and delivered is not None:
        behind_ms = max(0, entry_id_ms(newest) - entry_id_ms(delivered))
        metrics.stream_lag_seconds.labels(stream, group).set(behind_ms / 1000)
