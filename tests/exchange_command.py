"""`exchange <command>` as a real process, run to its end, for tests of what an operator sees
when it starts (or does not): its exit status and its lines on stderr."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def run_exchange(
    command: str, env: Mapping[str, str], *, cwd: Path | None = None, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Raises TimeoutExpired for one that runs on (a start that should have stopped). Started
    in `cwd`, or in an empty directory: never in the checkout, whose `.env` (a developer's
    own settings) would fill in what the test leaves unset."""
    with tempfile.TemporaryDirectory() as empty:
        return subprocess.run(
            [sys.executable, "-m", "launcher.cli", command],
            cwd=cwd or empty,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )


@contextmanager
def port_taken() -> Iterator[int]:
    """A port something listens on (without SO_REUSEPORT, as another program would)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]
