"""SIGTERM / SIGINT set an asyncio.Event so services finish their batch and stop cleanly; and
the other side of it, for whoever started such a process: SIGTERM, then SIGKILL past a grace."""

from __future__ import annotations

import asyncio
import signal
import subprocess


def stop_event_on_signals() -> asyncio.Event:
    """Must be called inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def terminate(process: subprocess.Popen[bytes], grace_s: float) -> bool:
    """SIGTERM `process`, and SIGKILL it if it has not exited within `grace_s`; reaped either
    way. True when it stopped by itself (or had already)."""
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_s)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
