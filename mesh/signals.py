"""SIGTERM / SIGINT set an asyncio.Event so services finish their batch and stop cleanly."""

from __future__ import annotations

import asyncio
import signal


def stop_event_on_signals() -> asyncio.Event:
    """Must be called inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
