"""The real engine as a child process (`python -m launcher.cli engine`), for tests that talk to
it through its streams."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.polling import poll

REPO_ROOT = Path(__file__).resolve().parents[2]


class EngineProcess:
    def __init__(
        self, redis_url: str, workdir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "engine.log"

    def start(self, argv: list[str] | None = None, wait_ready: bool = True) -> None:
        """Start the engine (or `argv`, a stand-in that runs it) with this test's settings."""
        env = dict(os.environ)
        env.update(
            REDIS_URL=self.redis_url,
            SNAPSHOT_DIR=str(self.workdir / "snapshots"),
            ENGINE_SNAPSHOT_INTERVAL="400",
            ENGINE_MAX_SNAPSHOTS="3",
            ENGINE_METRICS_PORT="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        self.starts += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv or [sys.executable, "-m", "launcher.cli", "engine"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait_ready:
            self.wait_log("engine ready", self.starts)

    def wait_log(self, text: str, count: int = 1, timeout_s: float = 30.0) -> None:

        def said() -> bool:
            if self.log_path.read_text(errors="replace").count(text) >= count:
                return True
            assert self.process is not None and self.process.poll() is None, self.tail()
            return False

        if not poll(said, timeout_s=timeout_s, every_s=0.05, must=False):
            raise AssertionError(f"engine log never said {text!r}: {self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)
