"""`exchange up`'s supervisor (launcher.cli.Supervisor): restarts on the schedule of
mesh.restarts, restarts that do not hold up the watch, a stop on a child that says its
configuration is wrong, and the embedded Redis and PostgreSQL brought back on their address
with their data. Children are stand-ins here; test_ctrl_c runs the real ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from launcher.cli import Supervisor, stop_children
from mesh.config import EXIT_CONFIG
from mesh.embedded import EmbeddedPostgres, EmbeddedRedis, process_running
from mesh.restarts import STABLE_S
from tests.polling import poll


class Child:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    plan: list[Any] = [("engine", "engine", {}), ("poller", "poller", {})]
    sup = Supervisor({}, plan)
    now = [0.0]
    started: list[str] = []

    def start(name: str) -> None:
        sup.children[name] = Child()  # type: ignore[assignment]
        sup.restarts.started(name, now[0])
        started.append(name)

    monkeypatch.setattr(sup, "start", start)
    sup.start_all()
    sup.clock, sup.started = now, started  # type: ignore[attr-defined]
    return sup


def crash(sup: Supervisor, name: str, at: float, code: int = -9) -> None:
    sup.clock[0] = at  # type: ignore[attr-defined]
    sup.children[name].code = code  # type: ignore[attr-defined]
    sup.check(at)


def test_crashes_in_a_row_wait_longer_and_a_stable_run_starts_over(supervisor: Supervisor) -> None:
    waits = []
    at = 0.0
    for _ in range(3):  # each a few seconds after its restart
        crash(supervisor, "engine", at + 1)
        waits.append(supervisor.restarts.due["engine"] - (at + 1))
        at = supervisor.restarts.due["engine"]
        supervisor.check(at)  # the restart
    assert waits == [1, 2, 4]  # mesh.restarts' schedule (tested in test_restarts)
    crash(supervisor, "engine", at + STABLE_S + 1)  # after a long good run
    assert supervisor.restarts.due["engine"] - (at + STABLE_S + 1) == 1


def test_a_restart_waiting_does_not_hold_up_the_others(supervisor: Supervisor) -> None:
    crash(supervisor, "engine", 1.0)
    crash(supervisor, "poller", 1.5)  # seen while the engine's restart is still due
    assert set(supervisor.restarts.due) == {"engine", "poller"}
    supervisor.check(2.0)
    assert supervisor.started == ["engine", "poller", "engine"]  # type: ignore[attr-defined]
    supervisor.check(2.5)
    assert supervisor.started[-1] == "poller"  # type: ignore[attr-defined]


def test_a_child_with_a_wrong_configuration_stops_the_exchange(supervisor: Supervisor) -> None:
    crash(supervisor, "poller", 1.0, EXIT_CONFIG)
    assert supervisor.failed == "poller" and "poller" not in supervisor.restarts.due
    supervisor.watch()  # returns at once: nothing more to watch


def test_the_embedded_redis_is_restarted_on_its_port_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        client.xadd("kept", {"p": b"1"})
        client.execute_command("BGREWRITEAOF")  # so the entry is on disk before the kill
        poll(lambda: client.info("persistence")["aof_rewrite_in_progress"], until=lambda x: not x,
             timeout_s=10, what="the AOF rewrite")  # fmt: skip
        supervisor = Supervisor({}, [], {"embedded redis": server})
        assert server.process is not None
        server.process.kill()
        server.process.wait(5)
        restart_when_due(supervisor, "embedded redis")
        assert server.url == url
        assert redis.Redis.from_url(url).xlen("kept") == 1
    finally:
        server.stop()


def test_the_embedded_postgres_is_restarted_on_its_socket_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "postgres")
    url = server.start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id int)")
            conn.execute("INSERT INTO kept VALUES (1)")
        supervisor = Supervisor({}, [], {"embedded postgres": server})
        supervisor.check(0.0)
        assert supervisor.restarts.due == {}  # running: nothing to do
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the postmaster: its backends follow it
        poll(server.died, timeout_s=10, what="the postmaster's death")
        restart_when_due(supervisor, "embedded postgres")
        assert server.died() is None and server.pid != pid
        assert server.url == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(1,)]
    finally:
        server.stop()


def restart_when_due(supervisor: Supervisor, name: str) -> None:
    """One look that finds `name` dead, then looks at the times its restarts fall due until it
    runs again. A start can fail while the dead server is not yet reaped (a killed postmaster
    is a zombie until init collects it, a second here): the supervisor tries again later, so
    real time passes between the looks too."""
    now = 0.0
    supervisor.check(now)
    assert name in supervisor.restarts.due, "the death was not seen"
    for _ in range(6):
        now = supervisor.restarts.due[name]
        supervisor.check(now)
        if name not in supervisor.restarts.due:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} was not restarted: due again at {supervisor.restarts.due[name]}")


_STOPS_SLOWLY = """
import signal, sys, time
log, name = sys.argv[1], sys.argv[2]
def on_term(*_):
    with open(log, "a") as out:
        out.write(name + " asked\\n")
    time.sleep(1.0)
    with open(log, "a") as out:
        out.write(name + " stopped\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open(log + "." + name, "w").close()
while True:
    time.sleep(0.05)
"""


def test_the_others_stop_together_and_the_engine_after_them(tmp_path: Path) -> None:
    """Two ledgers and a gateway are asked at once (each has been asked before any has
    stopped), the engine only once they have all stopped; one that ignores SIGTERM is killed
    past the grace and named."""
    log = tmp_path / "stops"
    names = ["engine", "ledger-1", "ledger-2", "gateway"]
    children = {
        name: subprocess.Popen([sys.executable, "-c", _STOPS_SLOWLY, str(log), name])
        for name in names
    }
    children["poller"] = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
         f" open({str(tmp_path / 'stops.poller')!r}, 'w').close(); time.sleep(60)"]
    )  # fmt: skip
    try:
        for name in children:
            poll(lambda n=name: (tmp_path / f"stops.{n}").exists(), timeout_s=10, what=name)
        killed = stop_children(children, grace_s=3.0)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
    assert killed == ["poller"] and children.pop("poller").returncode == -signal.SIGKILL
    assert all(child.returncode == 0 for child in children.values())
    lines = log.read_text().splitlines()
    others = [line for line in lines if not line.startswith("engine")]
    assert sorted(others[:3]) == ["gateway asked", "ledger-1 asked", "ledger-2 asked"], lines
    assert lines[-2:] == ["engine asked", "engine stopped"], lines


HOLD_AND_DIE = """
import os, sys
from pathlib import Path
from mesh.embedded import EmbeddedPostgres
EmbeddedPostgres(Path(sys.argv[1])).start()
print("started", flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_server_adopted_from_a_run_killed_with_9_is_stopped_by_the_next_clean_stop(
    tmp_path: Path,
) -> None:
    """`exchange up` killed with -9 leaves its server running and itself listed as holding
    it; the next run adopts the server and must stop it when it stops."""
    data_dir = tmp_path / "postgres"
    killed = subprocess.run(
        [sys.executable, "-c", HOLD_AND_DIE, str(data_dir)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL and "started" in killed.stdout, killed.stderr
    server = EmbeddedPostgres(data_dir)
    try:
        server.start()
        adopted = server.pid
        assert adopted is not None and process_running(adopted)
        server.stop()
        poll(lambda: not process_running(adopted), timeout_s=20, what="the adopted server's stop")
    finally:
        pid = server.pid
        if pid is not None and process_running(pid):  # failed: no server left behind
            os.kill(pid, signal.SIGTERM)
