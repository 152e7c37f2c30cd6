"""A `.env` in the directory `exchange` starts in supplies settings, LOG_LEVEL and LOG_FORMAT
included: read before logging starts, so even a service's first line follows them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mesh.config import EXIT_CONFIG
from tests.exchange_command import run_exchange

STARTED_BY_US = ("REDIS_URL", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "POLLER_SOURCE")


def _poller_without_redis(cwd: Path, dotenv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`exchange poller` with no REDIS_URL: its first and only line is an error."""
    (cwd / ".env").write_text(dotenv)
    inherited = {k: v for k, v in os.environ.items() if k not in STARTED_BY_US}
    return run_exchange("poller", {**inherited, **env}, cwd=cwd)


def test_log_format_in_dotenv_shapes_the_first_line(tmp_path: Path) -> None:
    done = _poller_without_redis(tmp_path, "LOG_FORMAT=json\n")
    assert done.returncode == EXIT_CONFIG, done.stderr
    [line] = done.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["service"], entry["level"]) == ("poller", "ERROR")
    assert "REDIS_URL is required" in entry["msg"]


@pytest.mark.parametrize(("level", "shown"), [("CRITICAL", False), ("ERROR", True)])
def test_log_level_in_dotenv_holds_from_the_first_line(
    level: str, shown: bool, tmp_path: Path
) -> None:
    done = _poller_without_redis(tmp_path, f"LOG_LEVEL={level}\n")
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert ("REDIS_URL is required" in done.stderr) is shown, done.stderr


def test_the_environment_wins_over_dotenv(tmp_path: Path) -> None:
    done = _poller_without_redis(tmp_path, "LOG_FORMAT=json\n", LOG_FORMAT="text")
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert done.stderr.strip().endswith(
        "REDIS_URL is required for `exchange poller` "
        "(`exchange up` starts its own Redis and PostgreSQL when they are unset)"
    )


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
