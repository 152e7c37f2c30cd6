"""A stop while Redis is away at start ends the engine at once, without a final snapshot.

The recovered inputs' events may not be republished yet; a final snapshot would hide them
from the next start's replay, so the engine leaves the journal to speak for them.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from engine_svc.service import journal, snapshots
from engine_svc.service.recovery import recover
from engine_svc.service.runner import EngineService
from mesh.config import load_settings
from tests.engine_service import builders


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_stop_before_redis_answers_exits_and_leaves_the_journal_to_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log = journal.Journal(tmp_path / "journal", fsync=False)
    log.open(0)
    inputs = [
        builders.command("u1", "create_account").SerializeToString(),
        builders.command("u2", "create_account").SerializeToString(),
    ]
    for seq, payload in enumerate(inputs):
        log.append(journal.Record(seq, journal.KIND_COMMAND, f"{seq + 1}-0".encode(), payload))
    log.close()
    monkeypatch.setenv("SNAPSHOT_DIR", str(tmp_path))
    monkeypatch.setenv("ENGINE_METRICS_PORT", "0")  # a taken port would stop it
    redis_url = f"redis://127.0.0.1:{_closed_port()}/0"
    service = EngineService(load_settings(need_secrets=False), redis_url)
    stop = asyncio.Event()

    running = asyncio.create_task(service.run(stop))
    deadline = asyncio.get_running_loop().time() + 10
    while "redis unavailable" not in caplog.text:
        assert asyncio.get_running_loop().time() < deadline, "never tried to reach redis"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, timeout=5)

    assert service.engine is not None and service.engine.seq == len(inputs)
    assert snapshots.timestamped(tmp_path) == []  # no final snapshot
    again = recover(
        tmp_path, tmp_path / "journal", service.new_engine, service.restore_engine, service.assets
    )
    assert again.replayed == len(inputs)
    assert again.engine.state_hash() == service.engine.state_hash()
