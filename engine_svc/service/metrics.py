"""The engine's /metrics, in Prometheus text format from its own registry.

Nothing here costs per command: a batch's stages are timed once and counted once for every
command in it (each waited that long), through histograms that take a weight. Stream lag is
sampled every few seconds by its own task, not per batch.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mesh import streams
from mesh.metrics_http import serve_metrics
from mesh.resp import RespConnection

log = logging.getLogger(__name__)

STAGES = ("inbox_wait", "apply", "journal_commit", "publish", "total")
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
LAG_SAMPLE_EVERY_S = 5.0
CONSUMED = ((streams.COMMANDS, streams.COMMAND_GROUP), (streams.PRICES, streams.PRICE_GROUP))


class WeightedHistogram:
    """Bucket counts kept as plain ints; `observe(value, n)` counts n observations at once."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = list(buckets)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += n
        self.total += value * n

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip([*map(str, self.bounds), "+Inf"], self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class _Histograms(Collector):
    def __init__(self, families: dict[str, tuple[str, str, dict[str, WeightedHistogram]]]):
        self.families = families

    def collect(self) -> Iterable[Metric]:
        for name, (doc, label, histograms) in self.families.items():
            family = HistogramMetricFamily(name, doc, labels=[label] if label else [])
            for value, histogram in histograms.items():
                family.add_metric(
                    [value] if label else [], histogram.buckets(), sum_value=histogram.total
                )
            yield family


class EngineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stage = {stage: WeightedHistogram(LATENCY_BUCKETS) for stage in STAGES}
        self.batch_size = WeightedHistogram(BATCH_BUCKETS)
        self.fsync = WeightedHistogram(LATENCY_BUCKETS)
        self.registry.register(
            _Histograms(
                {
                    "engine_command_latency_seconds": (
                        "Time each command spent in a stage (total: read to published)",
                        "stage",
                        self.stage,
                    ),
                    "engine_batch_size": (
                        "Stream entries per applied batch",
                        "",
                        {"": self.batch_size},
                    ),
                    "engine_journal_fsync_seconds": (
                        "fdatasync time of each journal commit",
                        "",
                        {"": self.fsync},
                    ),
                }
            )
        )
        r = self.registry
        self.commands = Counter("engine_commands", "Commands applied", registry=r)
        self.price_batches = Counter("engine_price_batches", "Price batches applied", registry=r)
        self.events = Counter("engine_events", "Trade events published", registry=r)
        self.open_positions = Gauge("engine_open_positions", "Open positions", registry=r)
        self.snapshot_age = Gauge(
            "engine_snapshot_age_seconds", "Since the last snapshot was written", registry=r
        )
        self.snapshot_duration = Gauge(
            "engine_last_snapshot_duration_seconds", "How long the last snapshot took", registry=r
        )
        self.pending = Gauge(
            "engine_stream_pending", "Entries delivered and not yet acknowledged",
            ["stream", "group"], registry=r,
        )  # fmt: skip
        self.lag = Gauge(
            "engine_stream_lag_seconds",
            "Age of the oldest entry not yet delivered to the group (0 when caught up)",
            ["stream", "group"], registry=r,
        )  # fmt: skip
        self.last_snapshot_at = time.time()

    def watch(self, open_positions: Callable[[], int]) -> None:
        self.open_positions.set_function(open_positions)
        self.snapshot_age.set_function(lambda: time.time() - self.last_snapshot_at)

    def snapshot_written(self, duration_s: float) -> None:
        self.last_snapshot_at = time.time()
        self.snapshot_duration.set(duration_s)

    def serve(self, host: str, port: int) -> bool:
        """Start the /metrics server (False when ENGINE_METRICS_PORT is 0: off); a port it
        cannot have is a ConfigError naming ENGINE_METRICS_PORT (mesh.metrics_http)."""
        return serve_metrics(self.registry, host, port, "engine metrics") is not None

    async def sample_lag(self, redis_url: str, stop: asyncio.Event) -> None:
        """Pending entries and lag of the engine's two consumer groups, every few seconds."""
        conn = RespConnection(redis_url)
        try:
            while not stop.is_set():
                try:
                    for stream, group in CONSUMED:
                        await self._sample(conn, stream, group)
                except streams.REDIS_ERRORS as exc:
                    log.debug("engine metrics: lag sample failed (%s)", exc)
                except Exception as exc:  # a metric must never stop the engine
                    log.warning("engine metrics: lag sample failed (%s)", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LAG_SAMPLE_EVERY_S)
        finally:
            conn.close()

    async def _sample(self, conn: RespConnection, stream: str, group: str) -> None:
        for flat in await conn.command("XINFO", "GROUPS", stream):
            info = dict(zip(flat[::2], flat[1::2], strict=True))
            if info.get(b"name") != group.encode():
                continue
            self.pending.labels(stream, group).set(int(info.get(b"pending", 0)))
            delivered = info.get(b"last-delivered-id", b"0-0")
            oldest = await conn.command("XRANGE", stream, b"(" + delivered, "+", "COUNT", 1)
            waiting_since = streams.entry_id_ms(oldest[0][0]) / 1000 if oldest else None
            self.lag.labels(stream, group).set(
                max(0.0, time.time() - waiting_since) if waiting_since is not None else 0.0
            )
