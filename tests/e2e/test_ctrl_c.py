"""Ctrl-C stops `exchange up` and every service it runs, however the shell started it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from launcher.bench.cpu_share import process_table
from tests.e2e.conftest import OPENING_PRICES
from tests.e2e.harness import REPO_ROOT, MailCatcher, Mesh, write_replay
from tests.polling import poll


def _as_a_background_job() -> None:
    # A shell without job control starts background jobs with SIGINT ignored; the services
    # set their own handlers, so the supervisor must too or it restarts what Ctrl-C stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exchange_up(mesh: Mesh, tmp_path: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """`exchange up` in a session of its own, ready (HTTP answers, the engine is up)."""
    opening = write_replay(tmp_path / "opening.csv", OPENING_PRICES)
    with (tmp_path / "exchange.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "up"],
            cwd=REPO_ROOT,
            env=mesh.env(POLLER_SOURCE=f"replay:{opening}"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,
        )
    mesh.processes["exchange"] = process
    return process


def test_ctrl_c_to_the_process_group_stops_everything_once(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> None:
    mesh = Mesh(redis_url, database_url, tmp_path, mail.port)
    process = _exchange_up(mesh, tmp_path, preexec_fn=_as_a_background_job)
    try:
        mesh.wait_http(name="exchange")
        mesh.wait_log("exchange", "engine ready")
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        assert process.wait(40) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    text = mesh.log("exchange")
    assert "stopping the exchange" in text
    assert "restarting" not in text
    for service in ("gateway", "engine"):
        assert f"{service} stopped cleanly" in text


def test_a_killed_launcher_leaves_no_service_running(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> None:
    """`kill -9` of `exchange up` gives it no chance to stop its children: they stop by
    themselves (each asked the kernel for a SIGTERM when their parent ends), so no orphan
    engine keeps the state folder or the commands beside the next start."""
    mesh = Mesh(redis_url, database_url, tmp_path, mail.port)
    process = _exchange_up(mesh, tmp_path)
    try:
        mesh.wait_http(name="exchange")
        mesh.wait_log("exchange", "engine ready")
        children = [pid for pid, (parent, _) in process_table().items() if parent == process.pid]
        assert len(children) >= 4, children  # engine, ledgers, poller, gateway
        process.kill()
        process.wait(10)
        alive = poll(
            lambda: [pid for pid in children if pid in process_table()],
            lambda left: not left,
            timeout_s=30,
            what="the services stopping after their launcher was killed",
        )
        assert alive == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert "engine stopped cleanly" in mesh.log("exchange")  # a SIGTERM: it snapshotted
