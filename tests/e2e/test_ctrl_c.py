"""Ctrl-C stops `exchange up` and every service it runs, however the shell started it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import OPENING_PRICES
from tests.e2e.harness import REPO_ROOT, MailCatcher, Mesh, write_replay


def _as_a_background_job() -> None:
    # A shell without job control starts background jobs with SIGINT ignored; the services
    # set their own handlers, so the supervisor must too or it restarts what Ctrl-C stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_to_the_process_group_stops_everything_once(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> None:
    mesh = Mesh(redis_url, database_url, tmp_path, mail.port)
    opening = write_replay(tmp_path / "opening.csv", OPENING_PRICES)
    with (tmp_path / "exchange.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "up"],
            cwd=REPO_ROOT,
            env=mesh.env(POLLER_SOURCE=f"replay:{opening}"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_as_a_background_job,
        )
    mesh.processes["exchange"] = process
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
