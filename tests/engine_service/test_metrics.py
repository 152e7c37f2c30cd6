"""The engine's /metrics: scraped from a real engine after some commands."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine_svc.service.metrics import WeightedHistogram
from mesh.embedded import free_port
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.engine_service.engine_process import EngineProcess
from tests.polling import poll


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_engine_serves_metrics_by_stage(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    engine = EngineProcess(redis_url, tmp_path, {"ENGINE_METRICS_PORT": str(port)})
    engine.start()
    try:
        client = StreamClient(redis_url, "gw-metrics")
        client.send_prices(builders.price_batch({"SOL_USDC": ("235.90", "235.95")}))
        ids = [client.send(builders.command(f"m{i}", "create_account")) for i in range(20)]
        client.wait_for(ids)
        opened = client.call(builders.create_trade("m0", "SOL_USDC", "LONG", 100_000, 10))
        assert opened.HasField("trade_opened")
        lag = (
            "engine_stream_lag_seconds",
            (("group", "engine_price_group"), ("stream", "engine_input")),
        )
        pending = (
            "engine_stream_pending",
            (("group", "engine_orders_group"), ("stream", "backend-to-engine")),
        )
        # The lag sampler runs every few seconds; its first pass is at once, and may have seen
        # the price batch before the engine read it: wait for a pass that saw both read.
        samples = poll(
            lambda: _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text),
            lambda samples: samples.get(pending) == 0 and samples.get(lag) == 0,
            timeout_s=10,
            every_s=0.2,
            must=False,  # the assertions below name the figure that differs
        )
    finally:
        assert engine.terminate() == 0

    assert samples[("engine_commands_total", ())] == 21
    assert samples[("engine_price_batches_total", ())] == 1
    assert samples[("engine_open_positions", ())] == 1
    assert samples[("engine_events_total", ())] == 1
    for stage in ("inbox_wait", "apply", "journal_commit", "publish", "total"):
        count = samples[("engine_command_latency_seconds_count", (("stage", stage),))]
        assert count == 21, stage  # every command once per stage; not the price batch
    assert samples[("engine_batch_size_sum", ())] == 22  # a batch's size counts both
    assert samples[("engine_journal_fsync_seconds_count", ())] >= 1
    assert samples[pending] == 0
    assert samples[lag] == 0
    assert ("engine_snapshot_age_seconds", ()) in samples
    assert ("engine_last_snapshot_duration_seconds", ()) in samples


def test_weighted_histogram_counts_a_batch_once_per_command() -> None:
    histogram = WeightedHistogram([0.001, 0.01])
    histogram.observe(0.005, 10)
    histogram.observe(0.0005, 2)
    histogram.observe(5.0)
    assert histogram.buckets() == [("0.001", 2), ("0.01", 12), ("+Inf", 13)]
    assert histogram.total == pytest.approx(0.05 + 0.001 + 5.0)
