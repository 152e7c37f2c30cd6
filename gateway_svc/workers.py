"""The gateway's parent process: GATEWAY_WORKERS full gateways sharing the HTTP and gRPC ports.

Before starting any worker the parent checks that nobody listens on those ports (a worker binds
with SO_REUSEPORT, so without the check a second, separate gateway would silently split the
traffic instead of failing). A worker that dies is restarted on the exchange's one restart
schedule (mesh.restarts; one that exits cleanly was asked to stop, and is not); SIGTERM or
SIGINT to the parent drains every worker.
Each worker asks the kernel for SIGTERM when the parent dies, so a parent killed with -9
leaves no orphans holding the ports.

`/metrics` sums all workers: prometheus_client runs in multiprocess mode, with a fresh
PROMETHEUS_MULTIPROC_DIR per start, set in the workers' environment before they import it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from mesh import signals
from mesh.config import EXIT_CONFIG, ConfigError, Settings
from mesh.ports import check_port_free
from mesh.restarts import RestartSchedule

log = logging.getLogger(__name__)

WORKER_ENV = "EXCHANGE_GATEWAY_WORKER"
"""`<index>:<parent pid>`, set by the parent in each worker's environment."""
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
DRAIN_TIMEOUT_S = 15.0
"""Under `exchange up`'s 20 s stop grace; a worker drains its gRPC calls within 10 s."""
POLL_S = 0.2


def http_host() -> str:
    """Where the gateway listens for HTTP (HTTP_HOST, loopback by default)."""
    return os.environ.get("HTTP_HOST", "127.0.0.1")


def worker_index() -> int | None:
    value = os.environ.get(WORKER_ENV)
    return int(value.split(":", 1)[0]) if value else None


def die_with_parent() -> None:
    """Linux: SIGTERM this worker when its parent exits, however it exits."""
    value = os.environ.get(WORKER_ENV, "")
    parent = int(value.split(":", 1)[1]) if ":" in value else None
    signals.die_with_parent(parent, "gateway worker")


def check_ports_free(settings: Settings) -> None:
    """Both of the gateway's ports, before anything else starts: a bind that fails later
    would come after its connections to Redis and Postgres, or in every worker."""
    check_port_free(http_host(), settings.http_port, "HTTP")
    check_port_free(settings.grpc_host.strip("[]"), settings.grpc_port, "gRPC")


class Workers:
    def __init__(self, count: int, metrics_dir: str) -> None:
        self.count = count
        self.metrics_dir = metrics_dir
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts: RestartSchedule[int] = RestartSchedule()
        self.stopping = False
        self.failed: int | None = None
        """A worker that exited EXIT_CONFIG: the gateway stops, and says so with its status."""

    def start(self, index: int) -> None:
        env = dict(os.environ)
        env[WORKER_ENV] = f"{index}:{os.getpid()}"
        env[METRICS_DIR_ENV] = self.metrics_dir
        self.children[index] = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "gateway"], env=env
        )
        self.restarts.started(index, time.monotonic())

    def watch(self) -> None:
        while not self.stopping and (self.children or self.restarts.due):
            time.sleep(POLL_S)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        """One look: schedule the restart of a worker that died, start those due."""
        for index, child in list(self.children.items()):
            code = child.poll()
            if code is None or self.stopping:
                continue
            del self.children[index]
            if code == 0:
                # A clean exit means a signal asked it to stop (Ctrl-C reaches the whole
                # process group): not restarted; the parent ends with its last worker.
                log.info("gateway worker %d stopped", index)
                continue
            if code == EXIT_CONFIG:  # its stderr line says why; no restart mends it
                log.error("gateway worker %d stopped: its configuration is wrong; stopping "
                          "the gateway", index)  # fmt: skip
                self.failed, self.stopping = index, True
                return
            delay = self.restarts.crashed(index, now)
            log.error("gateway worker %d exited with %s; restarting in %.0fs", index, code, delay)
        if not self.stopping:
            for index in self.restarts.take_due(now):
                self.start(index)

    def stop(self) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        for index, child in self.children.items():
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("gateway worker %d did not drain in time: killing it", index)
                child.kill()
                child.wait()


def supervise(settings: Settings) -> int:
    """Runs the workers until a signal; EXIT_CONFIG if one of them reported a wrong
    configuration (gateway_svc.main checked the ports before)."""
    if settings.http_port == 0 or settings.grpc_port == 0:
        raise ConfigError("GATEWAY_WORKERS > 1 needs fixed HTTP_PORT and GRPC_PORT (not 0)")
    metrics_dir = tempfile.mkdtemp(prefix="exchange-gw-metrics-")
    workers = Workers(settings.gateway_workers, metrics_dir)

    def on_signal(signum: int, _frame: object) -> None:
        workers.stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for index in range(workers.count):
            workers.start(index)
        log.info(
            "gateway: %d workers sharing REST :%d and gRPC :%d",
            workers.count,
            settings.http_port,
            settings.grpc_port,
        )
        workers.watch()
    finally:
        workers.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if workers.failed is not None:
        return EXIT_CONFIG
    log.info("gateway stopped cleanly")
    return 0
