"""Price sources, chosen by POLLER_SOURCE: `simulator` (default), `backpack`, `replay:PATH`."""

from __future__ import annotations

import os
from pathlib import Path

from websockets.exceptions import InvalidURI

from mesh.config import ConfigError, Settings, redacted
from poller_svc.sources.backpack import DEFAULT_URL, BackpackSource
from poller_svc.sources.replay import ReplaySource
from poller_svc.sources.simulator import SimulatorSource
from poller_svc.sources.tick import Source, Tick

__all__ = ["Source", "Tick", "open_source"]


def open_source(settings: Settings) -> Source:
    """The configured source; a malformed POLLER_SOURCE is a ConfigError naming the variable."""
    choice = settings.poller_source.strip()
    if choice == "simulator":
        return SimulatorSource(
            settings.poller_assets, settings.poller_update_interval_ms, settings.poller_seed
        )
    if choice == "backpack":
        url = os.environ.get("BACKPACK_WS_URL") or DEFAULT_URL
        try:
            return BackpackSource(settings.poller_assets, url, seed=settings.poller_seed)
        except InvalidURI as exc:
            raise ConfigError(
                f"BACKPACK_WS_URL is not a WebSocket URL: {redacted(str(exc))}"
            ) from None
    if choice.startswith("replay:"):
        path = Path(choice.removeprefix("replay:").strip())
        if not str(path) or str(path) == ".":
            raise ConfigError("POLLER_SOURCE=replay:PATH needs a file path")
        if not path.is_file():
            raise ConfigError(f"POLLER_SOURCE replay file {path} does not exist")
        return ReplaySource(
            path,
            settings.poller_assets,
            speed=settings.poller_replay_speed,
            loop=settings.poller_replay_loop,
            interval_ms=settings.poller_update_interval_ms,
        )
    raise ConfigError(
        f"POLLER_SOURCE must be simulator, backpack or replay:PATH, got {settings.poller_source!r}"
    )
