"""The embedded Redis runs in a session of its own, so a terminal's Ctrl-C (SIGINT to the
foreground process group) reaches the services, which stop in order, and not Redis, which
`exchange up` stops last (it stopped first, under them, with a flood of warnings)."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import redis

from mesh import embedded
from mesh.embedded import (
    EPHEMERAL_RANGE_FILE,
    LOWEST_CHOSEN_PORT,
    EmbeddedRedis,
    free_port,
    process_running,
    reap,
)


def test_the_embedded_redis_is_out_of_reach_of_a_terminals_ctrl_c(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        assert server.process is not None
        assert os.getpgid(server.process.pid) != os.getpgid(0)
        assert os.getsid(server.process.pid) == server.process.pid  # its own session
    finally:
        server.stop()


def test_a_dead_child_is_seen_dead_and_reaped() -> None:
    """A postmaster that died as this process's child (a launcher running as pid 1 inherits
    it) is a zombie until reaped; PostgreSQL's starter takes a zombie for a live server."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _wait_dead_then_reap(pid)


def test_a_dead_child_whose_threads_are_still_ending_is_reaped() -> None:
    """Its main thread gone, a process shows as a zombie while its other threads end, and
    cannot be collected until they have (a forked test worker's child can hold threads that
    fork handlers started: CI saw this one fail)."""
    pid = os.fork()
    if pid == 0:
        for _ in range(20):
            threading.Thread(target=time.sleep, args=(100,), daemon=True).start()
        os._exit(0)
    _wait_dead_then_reap(pid)


def _wait_dead_then_reap(pid: int) -> None:
    deadline = time.monotonic() + 2
    while process_running(pid) and time.monotonic() < deadline:
        pass  # until it has exited (a zombie now, unreaped); asked at once, threads and all
    assert not process_running(pid)
    assert Path(f"/proc/{pid}").exists()  # a zombie still holds its pid
    reap(pid)
    assert not Path(f"/proc/{pid}").exists()
    reap(pid)  # not a child any more: nothing happens


def test_the_embedded_redis_listens_on_a_socket_only_its_owner_reaches(tmp_path: Path) -> None:
    """No TCP port for another local user to reach a Redis that has no password."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        path = tmp_path.resolve() / "redis" / "redis.sock"
        assert url == f"unix://{path}?db=0"
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert server.port == 0
        client = redis.Redis.from_url(url)
        assert client.ping()
        assert client.config_get("port") == {"port": "0"}  # TCP off
        client.close()
    finally:
        server.stop()


def test_a_data_dir_too_deep_for_a_socket_path_serves_on_loopback_tcp(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "redis"
    server = EmbeddedRedis(deep)
    url = server.start()
    try:
        assert server.socket_path is None
        assert url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
        assert not (deep / "redis.sock").exists()
    finally:
        server.stop()


def test_a_free_port_is_chosen_below_the_ephemeral_range() -> None:
    """Outgoing connections take their local ports from the ephemeral range: a port chosen
    there could be taken before the server binds it (CI saw a gateway meet EADDRINUSE)."""
    low = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST_CHOSEN_PORT <= port < low for port in ports), ports
    assert len(ports) > 1  # chosen at random: parallel test workers rarely meet
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free indeed


def test_ports_given_one_after_another_are_never_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway's HTTP and gRPC ports are asked for together and bound later: both free, the
    same random choice would have been given twice (CI met it: a gateway whose HTTP port was
    its own gRPC port). Here the choice is narrowed to 1,000 ports so a repeat would be near
    certain among 200 without the memory of what was given."""
    monkeypatch.setattr(embedded, "_ephemeral_low", lambda: LOWEST_CHOSEN_PORT + 1_001)
    monkeypatch.setattr(embedded, "_handed_out", {}, raising=False)
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
