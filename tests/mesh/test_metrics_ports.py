"""A metrics port that cannot be had (ENGINE_METRICS_PORT, LEDGER_METRICS_PORT) stops the
service with exit status 2 and one line naming the variable, as the gateway's HTTP and gRPC
ports do (tests/mesh/test_gateway_ports.py); a forked child (the engine's snapshot writer)
does not keep the port from the service's next start."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from engine_svc.service.metrics import EngineMetrics
from gateway_svc.ledger import metrics as ledger_metrics
from mesh import ports
from mesh.config import EXIT_CONFIG, ConfigError
from mesh.embedded import free_port
from mesh.metrics_http import serve_metrics
from tests.exchange_command import run_exchange

NEVER_REACHED = {  # valid settings the start never gets to use
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
}


@pytest.mark.parametrize(
    ("service", "variable", "what"),
    [
        ("engine", "ENGINE_METRICS_PORT", "engine metrics"),
        ("ledger", "LEDGER_METRICS_PORT", "ledger metrics"),
    ],
)
def test_a_metrics_port_in_use_stops_the_service_naming_it(
    service: str, variable: str, what: str, taken: int, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **NEVER_REACHED,
        "EXCHANGE_DATA_DIR": str(tmp_path),
        "SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "METRICS_HOST": "127.0.0.1",
        "ENGINE_METRICS_PORT": "0",
        "LEDGER_METRICS_PORT": "0",
        variable: str(taken),
    }
    # PORT_RELEASE_S and a start; a service that runs on never ends
    done = run_exchange(service, env, timeout_s=30)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"exchange {service}: configuration error: {variable}: cannot listen for {what} on "
        f"127.0.0.1:{taken}: [Errno 98] Address already in use"
    )


@pytest.mark.parametrize(
    ("serve", "variable"),
    [
        (lambda port: EngineMetrics().serve("127.0.0.1", port), "ENGINE_METRICS_PORT"),
        (
            lambda port: ledger_metrics.serve(ledger_metrics.LedgerMetrics(), "127.0.0.1", port),
            "LEDGER_METRICS_PORT",
        ),
    ],
)
def test_each_services_metrics_name_their_variable(
    serve: Callable[[int], object], variable: str, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "PORT_RELEASE_S", 0.0)
    with pytest.raises(ConfigError, match=f"^{variable}: cannot listen for "):
        serve(taken)
    assert not serve(0)  # 0: off, silently


def test_a_host_that_is_not_this_machines_names_metrics_host() -> None:
    with pytest.raises(ConfigError, match=r"^METRICS_HOST: cannot listen for engine metrics"):
        serve_metrics(CollectorRegistry(), "192.0.2.1", free_port(), "engine metrics")


def test_a_forked_child_does_not_keep_the_metrics_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine forks its snapshot writer while /metrics serves: killed meanwhile, the
    engine is restarted while the writer runs on, and must find its port free."""
    monkeypatch.setattr(ports, "PORT_RELEASE_S", 0.0)
    port = free_port()
    server = serve_metrics(CollectorRegistry(), "127.0.0.1", port, "engine metrics")
    assert server is not None
    hold, release = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child: lives until the parent has looked
        os.close(release)
        os.read(hold, 1)
        os._exit(0)
    os.close(hold)
    try:
        server.shutdown()
        server.server_close()  # the service is gone; only the child could still listen
        ports.check_port_free("127.0.0.1", port, "engine metrics")
    finally:
        os.close(release)
        os.waitpid(child, 0)
