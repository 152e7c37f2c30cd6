"""SIGTERM / SIGINT set an asyncio.Event so services finish their batch and stop cleanly; the
other side of it, for whoever started such a process: SIGTERM, then SIGKILL past a grace; and
a child's promise to stop with its parent, however the parent ends."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping

_PR_SET_PDEATHSIG = 1


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
    return not terminate_together({"": process}, grace_s)


def terminate_together(
    processes: Mapping[str, subprocess.Popen[bytes]], grace_s: float
) -> list[str]:
    """SIGTERM all of `processes` at once, then wait for them within one shared `grace_s`,
    SIGKILLing whichever is left; all reaped. Together they take the slowest one's stop, not
    the sum of them. The names of those killed."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    killed = []
    for name, process in processes.items():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed.append(name)
    return killed


def die_with_parent(parent: int | None, what: str) -> None:
    """Linux: SIGTERM this process when the process that started it ends, however it ends (a
    `kill -9` too, which leaves it no chance to stop its children), so that no orphan keeps
    running beside the next start. `parent`, the pid it was started by: gone already (it died
    before this line), this process stops at once."""
    parent_death_signal()
    if parent is not None and os.getppid() != parent:
        raise SystemExit(f"{what}: the process that started it is gone")


def parent_death_signal() -> None:
    """Linux: ask the kernel for a SIGTERM when the parent ends. Also for
    `subprocess.Popen(preexec_fn=...)` of a program that is not ours (the embedded Redis): the
    same promise, made in the child before it runs the program."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
