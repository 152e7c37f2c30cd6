"""Runs the real mesh (engine, ledger, poller, gateway as child processes) against the test
servers, with a real SMTP server catching sign-in mail. Used by the end-to-end and crash tests.

The gateway runs GATEWAY_WORKERS processes: `Mesh.gateway_workers`, by default
EXCHANGE_TEST_GATEWAY_WORKERS (1 when unset), so the suite can be run with one and with several.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from mesh.embedded import free_port
from tests.polling import poll

# aiosmtpd logs each connection's EOF at INFO from its own thread, which can run after pytest
# has closed the stream a test's log capture wrote to ("--- Logging error ---" in CI's output).
logging.getLogger("mail.log").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS_ENV = "EXCHANGE_TEST_GATEWAY_WORKERS"


def default_gateway_workers() -> int:
    return int(os.environ.get(WORKERS_ENV) or 1)


LINK = re.compile(r"https?://\S+/api/v1/user/signin/post\?token=[\w.\-]+")


class MailCatcher:
    """A real SMTP server on 127.0.0.1 keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = message_from_bytes(envelope.content)
        parts = message.walk() if message.is_multipart() else [message]
        text = "".join(
            part.get_payload(decode=True).decode(errors="replace")
            for part in parts
            if not part.is_multipart() and part.get_payload(decode=True)
        )
        self.messages.append((list(envelope.rcpt_tos), text))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def link_for(self, email: str, timeout_s: float = 10.0) -> str:
        def newest_link() -> str | None:
            for rcpts, text in reversed(self.messages):
                if email in rcpts:
                    match = LINK.search(text.replace("=\n", ""))
                    if match:
                        return match.group(0)
            return None

        link = poll(
            newest_link, timeout_s=timeout_s, every_s=0.05, what=f"a sign-in mail for {email}"
        )
        assert link is not None
        return link


@dataclass
class Mesh:
    redis_url: str
    database_url: str
    workdir: Path
    smtp_port: int
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    gateway_workers: int = field(default_factory=default_gateway_workers)
    engine_metrics_port: int = field(default_factory=free_port)
    ledger_metrics_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def snapshot_dir(self) -> Path:
        return self.workdir / "snapshots"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "POLLER_"))}
        env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            SNAPSHOT_DIR=str(self.snapshot_dir),
            EXCHANGE_DATA_DIR=str(self.workdir / "data"),
            HTTP_PORT=str(self.http_port),
            GRPC_PORT=str(self.grpc_port),
            AUTH_JWT_SECRET="test-auth-secret-0123456789abcdef0123456789",
            EMAIL_JWT_SECRET="test-email-secret-0123456789abcdef012345678",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.smtp_port),
            BACKEND_URL=self.base_url,
            FRONTEND_URL=f"{self.base_url}/",
            ENGINE_SNAPSHOT_INTERVAL="1000",
            PYTHONUNBUFFERED="1",
            GATEWAY_WORKERS=str(self.gateway_workers),
            ENGINE_METRICS_PORT=str(self.engine_metrics_port),
            LEDGER_METRICS_PORT=str(self.ledger_metrics_port),
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def start(self, service: str, name: str | None = None, **env: str) -> subprocess.Popen[bytes]:
        """Start `service` (engine, gateway, poller) under `name` (default: the service)."""
        name = name or service
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", service],
            cwd=REPO_ROOT,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_all(self, poller_source: str, timeout_s: float = 30.0) -> None:
        """The whole mesh: engine (until ready), ledger, gateway, poller; returns once the
        gateway answers /healthz."""
        self.start("engine")
        self.wait_log("engine", "engine ready", timeout_s)
        self.start("ledger")
        self.start("gateway")
        self.start("poller", POLLER_SOURCE=poller_source)
        self.wait_http(timeout_s)

    def stop(self, service: str, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Signal and wait; a process that outlives the timeout is killed, then the timeout
        is raised, so a hung service fails its test instead of outliving it."""
        process = self.processes.pop(service)
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to every process at once, then wait for each (the slowest to drain sets
        the pace, not their sum); one still running after the timeout is killed."""
        processes, self.processes = self.processes, {}
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self, service: str) -> str:
        path = self.workdir / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_http(
        self, timeout_s: float = 30.0, base_url: str | None = None, name: str = "gateway"
    ) -> None:
        def healthy() -> bool:
            gateway = self.processes.get(name)
            if gateway is not None and gateway.poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log(name)[-3000:]}")
            try:
                return (
                    httpx.get(f"{base_url or self.base_url}/healthz", timeout=1).status_code == 200
                )
            except httpx.HTTPError:
                return False

        if not poll(healthy, timeout_s=timeout_s, must=False):
            raise AssertionError(f"{name} not healthy:\n{self.log(name)[-3000:]}")

    def wait_log(self, service: str, needle: str, timeout_s: float = 30.0) -> None:
        def logged() -> bool | None:
            if needle in self.log(service):
                return True
            process = self.processes.get(service)
            return None if process is not None and process.poll() is not None else False

        # None: the process exited without the line, so stop waiting for it.
        if not poll(
            logged, lambda seen: seen is not False, timeout_s=timeout_s, every_s=0.05, must=False
        ):
            raise AssertionError(f"{service} never logged {needle!r}:\n{self.log(service)[-3000:]}")


def write_replay(path: Path, rows: list[tuple[int, str, str, str]]) -> Path:
    path.write_text("ts_ms,asset,bid,ask\n" + "".join(f"{t},{a},{b},{k}\n" for t, a, b, k in rows))
    return path
