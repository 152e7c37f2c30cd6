"""A `.env` in the directory `exchange` starts in supplies settings, LOG_LEVEL and LOG_FORMAT
included: read before logging starts, so even a service's first line follows them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mesh.config import EXIT_CONFIG
from mesh.embedded import free_port
from tests.exchange_command import run_exchange

STARTED_BY_US = ("REDIS_URL", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "POLLER_SOURCE")


def _up_refused(cwd: Path, dotenv: str, **env: str) -> list[str]:
    """`exchange up` with a `.env` and clashing ports: it logs the file it read (INFO, its
    first log line), then refuses the ports (its configuration error, a plain stderr line)
    before it starts anything. Its stderr lines."""
    (cwd / ".env").write_text(dotenv)
    inherited = {k: v for k, v in os.environ.items() if k not in STARTED_BY_US}
    port = str(free_port())
    clash = {"HTTP_PORT": port, "GRPC_PORT": port, "EXCHANGE_DATA_DIR": str(cwd / "data")}
    done = run_exchange("up", {**inherited, **clash, **env}, cwd=cwd)
    assert done.returncode == EXIT_CONFIG, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("exchange up: configuration error: "), done.stderr
    assert f"are both port {port}" in lines[-1], done.stderr  # refused before it started anything
    return lines


def test_log_format_in_dotenv_shapes_the_first_line(tmp_path: Path) -> None:
    first = json.loads(_up_refused(tmp_path, "LOG_FORMAT=json\n")[0])
    assert (first["service"], first["level"]) == ("exchange", "INFO")
    assert first["msg"].startswith(f"settings from {tmp_path / '.env'}")


@pytest.mark.parametrize(("level", "shown"), [("WARNING", False), ("INFO", True)])
def test_log_level_in_dotenv_holds_from_the_first_line(
    level: str, shown: bool, tmp_path: Path
) -> None:
    lines = _up_refused(tmp_path, f"LOG_LEVEL={level}\n")
    assert any("settings from" in line for line in lines) is shown, lines


def test_the_environment_wins_over_dotenv(tmp_path: Path) -> None:
    lines = _up_refused(tmp_path, "LOG_FORMAT=json\n", LOG_FORMAT="text")
    assert "settings from" in lines[0] and not lines[0].startswith("{"), lines


def test_a_dotenv_in_a_folder_above_is_not_this_exchanges(tmp_path: Path) -> None:
    """Started in a folder of its own, `exchange` does not take the settings of a `.env` above
    it (a home directory's, another deployment's): only its own directory's counts."""
    (tmp_path / ".env").write_text("REDIS_URL=redis://127.0.0.1:1/0\nLOG_FORMAT=json\n")
    below = tmp_path / "deployment"
    below.mkdir()
    inherited = {k: v for k, v in os.environ.items() if k not in STARTED_BY_US}
    done = run_exchange("poller", inherited, cwd=below)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert done.stderr.strip().endswith(
        "REDIS_URL is required for `exchange poller` "
        "(`exchange up` starts its own Redis and PostgreSQL when they are unset)"
    ), done.stderr
    assert not done.stderr.lstrip().startswith("{")  # LOG_FORMAT=json was not read either
