"""A gateway that cannot listen (a port in use, a host that is not this machine's) stops with
EXIT_CONFIG and one line on stderr naming the variable and the address (`exchange`'s, as for
every service, whatever LOG_LEVEL says), in one process or as the parent of its workers; a
worker that says so stops its parent instead of being restarted.
`exchange up` then stops the exchange (tests/mesh/test_supervisor.py)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from gateway_svc import workers
from gateway_svc.gateway_process import http_socket
from launcher.cli import main as exchange
from mesh import ports
from mesh.config import EXIT_CONFIG, ConfigError

NOT_OURS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): no machine has it


@pytest.fixture(autouse=True)
def gateway_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # away from any .env in the checkout
    monkeypatch.setenv("LOG_LEVEL", "CRITICAL")  # the line is not the logger's to hide
    monkeypatch.delenv(workers.WORKER_ENV, raising=False)
    for name in ("HTTP_HOST", "GRPC_HOST", "REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AUTH_JWT_SECRET", "EMAIL_JWT_SECRET"):  # no warning about generating them
        monkeypatch.setenv(name, f"a-test-secret-for-{name}")


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(autouse=True)
def _ports_let_go_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "PORT_RELEASE_S", 0.3)


def test_a_port_its_old_holder_lets_go_of_soon_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway restarted after a crash: its dead predecessor's workers still let go."""
    monkeypatch.setattr(ports, "PORT_RELEASE_S", 5.0)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    threading.Timer(0.5, holder.close).start()
    ports.check_port_free("127.0.0.1", port, "HTTP")  # a port still held would raise
    assert holder.fileno() == -1  # it returned once the holder had let go, not before


@pytest.mark.parametrize("gateway_workers", ["1", "2"])
def test_a_port_in_use_stops_the_gateway_naming_it(
    gateway_workers: str,
    taken: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GATEWAY_WORKERS", gateway_workers)
    monkeypatch.setenv("HTTP_PORT", str(taken))
    assert exchange(["gateway"]) == EXIT_CONFIG
    line = _one_error(capsys.readouterr().err)
    assert line == (
        f"exchange gateway: configuration error: HTTP_PORT: cannot listen for "
        f"HTTP on 127.0.0.1:{taken}: [Errno 98] Address already in use"
    ), line


def test_a_grpc_port_in_use_names_grpc_port(
    taken: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_WORKERS", "1")
    monkeypatch.setenv("HTTP_PORT", "0")  # any free one
    monkeypatch.setenv("GRPC_PORT", str(taken))
    assert exchange(["gateway"]) == EXIT_CONFIG
    line = _one_error(capsys.readouterr().err)
    assert line.startswith(
        "exchange gateway: configuration error: "
        f"GRPC_PORT: cannot listen for gRPC on 127.0.0.1:{taken}"
    ), line


def test_a_host_that_is_not_this_machines_names_http_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_WORKERS", "2")
    monkeypatch.setenv("HTTP_HOST", NOT_OURS)
    monkeypatch.setenv("HTTP_PORT", "3105")
    assert exchange(["gateway"]) == EXIT_CONFIG
    line = _one_error(capsys.readouterr().err)
    assert line.startswith(
        "exchange gateway: configuration error: "
        f"HTTP_HOST: cannot listen for HTTP on {NOT_OURS}:3105"
    ), line


def test_a_workers_own_socket_names_the_variable_too(taken: int) -> None:
    """A worker binds after its parent's check: what it meets is a configuration error too."""
    with pytest.raises(ConfigError) as in_use:
        http_socket("127.0.0.1", taken, reuse_port=True)
    assert str(in_use.value).startswith(f"HTTP_PORT: cannot listen for HTTP on 127.0.0.1:{taken}")
    with pytest.raises(ConfigError) as not_ours:
        http_socket(NOT_OURS, 3105, reuse_port=True)
    assert str(not_ours.value).startswith(f"HTTP_HOST: cannot listen for HTTP on {NOT_OURS}:3105")


class Child:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def test_a_worker_with_a_wrong_configuration_stops_the_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = workers.Workers(2, "/nonexistent")
    started: list[int] = []

    def start(index: int) -> None:
        pool.children[index] = Child()  # type: ignore[assignment]
        started.append(index)

    monkeypatch.setattr(pool, "start", start)
    start(0)
    start(1)
    pool.children[1].code = EXIT_CONFIG  # type: ignore[attr-defined]
    pool.check(5.0)
    assert (pool.failed, pool.stopping) == (1, True)
    assert pool.restarts.due == {}
    pool.check(60.0)
    assert started == [0, 1]  # never restarted
