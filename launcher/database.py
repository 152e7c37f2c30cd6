"""The database the launcher's commands use (`exchange up`, `migrate`, `reconcile`, and the
services that write to it, `gateway` and `ledger`): DATABASE_URL checked before use, what goes
wrong told in one line naming it and never showing its password, and the embedded PostgreSQL
of a running `exchange up` found when it is unset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from mesh.config import ConfigError, redacted_text
from mesh.embedded import EmbeddedPostgres, process_running

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

EMBEDDED_POSTGRES = "postgres"
"""`exchange up`'s embedded PostgreSQL keeps its data in EXCHANGE_DATA_DIR/postgres."""


def checked_url(database_url: str) -> str:
    """`database_url` if it is one (a ConfigError naming DATABASE_URL if not): checked before
    a driver gets it, whose own messages quote it."""
    # Imported here: `exchange engine` and the poller load launcher.cli, and SQLAlchemy with
    # it would slow their starts.
    from gateway_svc.db.urls import sqlalchemy_url

    try:
        sqlalchemy_url(database_url)
    except ValueError as exc:  # its message never quotes the URL (gateway_svc.db.urls)
        raise ConfigError(f"DATABASE_URL: {exc}") from None
    return database_url


def check_setting() -> None:
    """DATABASE_URL, as `exchange gateway` and `exchange ledger` will read it, checked before
    they start anything (checked_url); unset, they say they need it."""
    if url := os.environ.get("DATABASE_URL"):
        checked_url(url)


def failure(exc: SQLAlchemyError) -> str:
    """The driver's first line, not its chained tracebacks; redacted, as it may quote the
    connection string."""
    orig = getattr(exc, "orig", None)
    first = (str(orig or exc).strip().splitlines() or ["no answer"])[0]
    return redacted_text(first)


def running_embedded_url(data_dir: Path) -> str | None:
    """The database of the embedded PostgreSQL a running `exchange up` keeps in `data_dir`
    (EXCHANGE_DATA_DIR), the one its log names ("embedded postgres at ..."); None when none
    runs there. Read from its postmaster.pid (pid, data folder, start time, port, socket
    folder, ...), as embedded-postgres does: nothing is started."""
    server = EmbeddedPostgres(data_dir / EMBEDDED_POSTGRES)
    pid = server.pid
    if pid is None or not process_running(pid):
        return None
    try:
        port, socket_dir = (line.strip() for line in server.postmaster()[3:5])
    except ValueError:  # fewer lines: not started yet
        return None
    if not socket_dir or not port.isdigit():  # embedded-postgres listens on a socket only
        return None
    return f"postgresql://postgres@/{server.database}?host={quote(socket_dir)}&port={port}"
