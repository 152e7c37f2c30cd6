"""Files only their owner can read, in folders only their owner can list.

Snapshots and the journal hold every user's e-mail and positions, the development secrets
sign every session, and the embedded servers' folders hold the whole database: none of it is
for the other accounts of the machine. Modes are given when a file is created (os.open with
0600), never fixed by a chmod afterwards, so there is no moment when the umask's 0644 applies.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_directory(directory: Path) -> None:
    """Create `directory` (and missing parents) 0700, and tighten it if it exists already.
    Existing parents keep their modes: a data folder may sit in a shared one."""
    directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if directory.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        os.chmod(directory, PRIVATE_DIR_MODE)


def open_private(path: Path, flags: int) -> int:
    """os.open with mode 0600 from the first byte; a file that existed is tightened too."""
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, 0600 throughout: written to a temp file created
    0600 beside it, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
