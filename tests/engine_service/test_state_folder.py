"""The engine's state folder (SNAPSHOT_DIR): one engine per folder (single_writer.py), and an
engine that finds its folder empty on a Redis where an engine ran before says so."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from engine_svc.service import single_writer
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.engine_service.engine_process import EngineProcess


def test_a_second_engine_on_the_same_folder_waits_for_the_first(
    redis_url: str, tmp_path: Path
) -> None:
    first = EngineProcess(redis_url, tmp_path / "first")
    second = EngineProcess(
        redis_url, tmp_path / "second", {"SNAPSHOT_DIR": str(tmp_path / "first" / "snapshots")}
    )
    first.start()
    try:
        assert first.process is not None
        second.start(wait_ready=False)
        second.wait_log(f"another engine (pid {first.process.pid}) holds")
        client = StreamClient(redis_url, "gw-single")
        for user in ("u1", "u2", "u3"):  # every command reaches the first engine
            answer = client.call(builders.command(user, "create_account"))
            assert answer.WhichOneof("data") == "account_created", answer
        assert "engine ready" not in second.tail()
        assert first.terminate() == 0
        second.wait_log("engine ready")  # it recovered the first one's state:
        again = client.call(builders.command("u1", "create_account"))
        assert again.error_code and again.WhichOneof("data") is None, again  # ACCOUNT_EXISTS
    finally:
        for engine in (second, first):
            if engine.process is not None and engine.process.poll() is None:
                engine.terminate()


async def test_the_lock_is_free_again_once_released(tmp_path: Path) -> None:
    stop = asyncio.Event()
    lock = await single_writer.hold(tmp_path, stop)
    assert lock is not None and (tmp_path / single_writer.LOCK_FILE).read_text().strip()
    lock.release()
    again = await single_writer.hold(tmp_path, stop)
    assert again is not None
    again.release()


def test_an_engine_that_lost_its_folder_says_so(redis_url: str, tmp_path: Path) -> None:
    engine = EngineProcess(redis_url, tmp_path)
    engine.start()
    client = StreamClient(redis_url, "gw-lost")
    assert client.call(builders.command("u1", "create_account")).WhichOneof("data")
    assert engine.terminate() == 0
    assert "consumed commands from this Redis before" not in engine.tail()
    shutil.rmtree(tmp_path / "snapshots")  # the folder is gone: a wiped disk, a moved dir
    engine.start()
    engine.wait_log("starting empty (no snapshot or journal in")
    assert "an engine has consumed commands from this Redis before" in engine.tail()
    assert engine.terminate() == 0
