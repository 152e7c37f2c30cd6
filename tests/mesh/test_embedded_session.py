"""The embedded Redis runs in a session of its own, so a terminal's Ctrl-C (SIGINT to the
foreground process group) reaches the services, which stop in order, and not Redis, which
`exchange up` stops last (it stopped first, under them, with a flood of warnings)."""

from __future__ import annotations

import os
from pathlib import Path

from mesh.embedded import EmbeddedRedis


def test_the_embedded_redis_is_out_of_reach_of_a_terminals_ctrl_c(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        assert server.process is not None
        assert os.getpgid(server.process.pid) != os.getpgid(0)
        assert os.getsid(server.process.pid) == server.process.pid  # its own session
    finally:
        server.stop()
