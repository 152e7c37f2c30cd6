"""POLLER_SOURCE picks the source; anything else is a clear configuration error."""

from __future__ import annotations

import dataclasses
import os
from decimal import Decimal
from pathlib import Path

import pytest

from mesh.config import EXIT_CONFIG, ConfigError, Settings, load_settings
from poller_svc.sources import open_source
from poller_svc.sources.backpack import DEFAULT_URL, BackpackSource
from poller_svc.sources.replay import ReplaySource
from poller_svc.sources.simulator import SimulatorSource
from tests.exchange_command import run_exchange


def _settings(source: str) -> Settings:
    return dataclasses.replace(load_settings(), poller_source=source)


def test_simulator_is_the_default_choice() -> None:
    source = open_source(_settings("simulator"))
    assert isinstance(source, SimulatorSource) and source.name == "simulator"


def test_backpack_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKPACK_WS_URL", raising=False)
    source = open_source(_settings("backpack"))
    assert isinstance(source, BackpackSource) and source.url == DEFAULT_URL
    monkeypatch.setenv("BACKPACK_WS_URL", "ws://127.0.0.1:9999")
    source = open_source(_settings("backpack"))
    assert isinstance(source, BackpackSource) and source.url == "ws://127.0.0.1:9999"
    monkeypatch.setenv("BACKPACK_WS_URL", "http://not-a-websocket")
    with pytest.raises(ConfigError, match="BACKPACK_WS_URL"):
        open_source(_settings("backpack"))


def test_replay_with_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("ts_ms,asset,bid,ask\n")
    settings = dataclasses.replace(
        _settings(f"replay:{path}"), poller_replay_speed=Decimal("2.5"), poller_replay_loop=True
    )
    source = open_source(settings)
    assert isinstance(source, ReplaySource)
    assert (source.path, source.speed, source.loop) == (path, Decimal("2.5"), True)


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ("replay:", "needs a file path"),
        ("replay:/no/such/file.csv", "does not exist"),
        ("binance", "must be simulator, backpack or replay:PATH"),
        ("", "must be simulator, backpack or replay:PATH"),
    ],
)
def test_bad_choices_are_config_errors(choice: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_source(_settings(choice))


def test_exchange_poller_says_so_in_one_line_whatever_the_log_level() -> None:
    """The poller's configuration error is `exchange`'s line on stderr, as every service's:
    its logger (LOG_LEVEL=CRITICAL) cannot hide it."""
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached
        "POLLER_SOURCE": "binance",
        "LOG_LEVEL": "CRITICAL",
    }
    done = run_exchange("poller", env, timeout_s=30)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert done.stderr.strip().splitlines() == [
        "exchange poller: configuration error: POLLER_SOURCE must be simulator, backpack or "
        "replay:PATH, got 'binance'"
    ], done.stderr
