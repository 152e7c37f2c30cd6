"""One engine per state folder: an exclusive lock on `SNAPSHOT_DIR/engine.lock`, taken before
recovery reads the folder and held until the engine stops.

Two engines on one folder (a second `exchange up` beside one whose launcher was killed, a
redeploy that starts the new engine before the old one stops) would both journal into it and
share the commands between them: answered trades would be lost. The lock is `flock`'s, held by
the open file: the kernel releases it when the process ends, however it ends, so an engine
restarted after `kill -9` takes it at once. A snapshot writer forked by the old engine holds it
until it finishes; so a starting engine waits for the lock, saying whose it is, rather than
giving up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = "engine.lock"
POLL_S = 0.5
SAY_EVERY_S = 10.0


class FolderLock:
    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = -1


def _try(path: Path) -> tuple[FolderLock | None, str]:
    """The lock, or None and who holds it (the pid its holder wrote)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        return None, holder
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return FolderLock(fd, path), ""


async def hold(folder: Path, stop: asyncio.Event) -> FolderLock | None:
    """The folder's lock, waiting while another process holds it; None if `stop` comes first."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    said = 0.0
    while not stop.is_set():
        lock, holder = _try(path)
        if lock is not None:
            if said:
                log.info("engine: %s is free now; starting", folder)
            return lock
        now = time.monotonic()
        if now - said >= SAY_EVERY_S:
            log.error(
                "engine: another engine (pid %s) holds %s: one engine per state folder; "
                "waiting for it to stop",
                holder, folder,
            )  # fmt: skip
            said = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_S)
    return None
