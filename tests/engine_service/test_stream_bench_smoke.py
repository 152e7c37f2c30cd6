"""The stream benchmark's `measure` against a real engine, in small sizes."""

from __future__ import annotations

from pathlib import Path

from engine_svc.bench.stream_bench import measure
from tests.engine_service.engine_process import EngineProcess


def test_measure_drives_a_real_engine(redis_url: str, tmp_path: Path) -> None:
    engine = EngineProcess(redis_url, tmp_path)
    engine.start()
    assert engine.process is not None
    try:
        figures = measure(
            redis_url,
            seconds=0.5,
            in_flight=8,
            users=12,
            latency_seconds=0.3,
            clients=2,
            watch_pids={"engine": engine.process.pid},
        )
    finally:
        assert engine.terminate() == 0
    assert figures["commands_per_s"] > 0
    assert figures["rejected"] == 0, "creates and closes alternate per user and all succeed"
    assert 0 < figures["p50_us"] <= figures["p99_us"]
    assert figures["latency_samples"] > 0
    assert set(figures["cpu_us_per_command"]) == {"engine", "client"}
    assert "Traceback" not in engine.tail()
