"""Engine snapshots in the seed's format (SPEC section 6).

A snapshot is gzip JSON `{"version", "timestamp", "checksum", "data"}`, `checksum` being the
SHA-256 of the exact bytes of `data` as written. `data` starts with `"seq"`, the journal
position it stands for, so its seq can be read from the first bytes without loading it all.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from isal import igzip, isal_zlib

from engine_svc.service.files import fsync_directory
from mesh.private_files import open_private, private_directory

log = logging.getLogger(__name__)

VERSION = 1
LATEST = "latest.json.gz"
_SUFFIX = ".json.gz"
_HEADER = re.compile(rb'^\{"version":(\d+),"timestamp":(\d+),"checksum":"([0-9a-f]{64})","data":')
_SEQ = re.compile(rb'"data":\{"seq":(\d+)')


class SnapshotError(ValueError):
    """A snapshot that must not be trusted: unreadable, wrong version or checksum mismatch."""


def encode(data: dict[str, Any], timestamp_ms: int) -> bytes:
    if next(iter(data), None) != "seq":
        raise ValueError("snapshot data must start with its seq")
    body = orjson.dumps(data)  # compact JSON, six times faster than json.dumps here
    checksum = hashlib.sha256(body).hexdigest()
    head = f'{{"version":{VERSION},"timestamp":{timestamp_ms},"checksum":"{checksum}","data":'
    # ISA-L's deflate: the same gzip format, four times faster than zlib's at level 1 here.
    return igzip.compress(head.encode() + body + b"}", compresslevel=1)


def decode(raw: bytes) -> tuple[int, dict[str, Any]]:
    """(timestamp_ms, data) of a compressed snapshot, or SnapshotError."""
    try:
        text = igzip.decompress(raw)  # twice as fast as zlib's inflate
    except (OSError, EOFError, isal_zlib.error) as exc:
        raise SnapshotError(f"not readable gzip: {exc}") from None
    match = _HEADER.match(text)
    if match is None or not text.endswith(b"}"):
        raise SnapshotError("not in the snapshot layout (truncated or foreign)")
    version, timestamp, checksum = int(match[1]), int(match[2]), match[3].decode()
    if version != VERSION:
        raise SnapshotError(f"version {version}, this engine reads {VERSION}")
    body = memoryview(text)[match.end() : -1]  # a view: no copy of a hundred megabytes
    if hashlib.sha256(body).hexdigest() != checksum:
        raise SnapshotError("checksum mismatch")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"bad JSON: {exc}") from None
    return timestamp, data


def write(directory: Path, data: dict[str, Any], timestamp_ms: int, keep: int) -> Path:
    """Write `<timestamp>.json.gz` durably, point `latest.json.gz` at it, keep the newest `keep`."""
    private_directory(directory)
    raw = encode(data, timestamp_ms)
    final = directory / f"{timestamp_ms}{_SUFFIX}"
    tmp = directory / f".{timestamp_ms}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)  # a crashed writer's leftover: O_EXCL below needs it gone
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with open(fd, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    link_tmp = directory / f".latest.{os.getpid()}.tmp"
    link_tmp.unlink(missing_ok=True)
    os.link(final, link_tmp)
    os.replace(link_tmp, directory / LATEST)
    fsync_directory(directory)
    for old in timestamped(directory)[keep:]:
        old.unlink(missing_ok=True)
    return final


def timestamped(directory: Path) -> list[Path]:
    """`<timestamp>.json.gz` files, newest first."""
    if not directory.exists():
        return []
    found = [
        p
        for p in directory.iterdir()
        if p.name.endswith(_SUFFIX) and p.name[: -len(_SUFFIX)].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[: -len(_SUFFIX)]), reverse=True)


def peek_seq(path: Path) -> int | None:
    """The seq a snapshot stands for, from its first bytes; None if unreadable."""
    try:
        with gzip.open(path, "rb") as handle:
            head = handle.read(512)
    except (OSError, EOFError):
        return None
    match = _SEQ.search(head)
    return int(match[1]) if match else None


def load_newest(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest snapshot that holds, falling back past damaged ones (each reported)."""
    for path in timestamped(directory):
        started = time.monotonic()
        try:
            _, data = decode(path.read_bytes())
        except (SnapshotError, OSError) as exc:
            log.error("snapshot %s is unusable (%s): falling back to an older one", path, exc)
            continue
        log.info(
            "loaded snapshot %s (seq %s) in %.2fs",
            path.name,
            data.get("seq"),
            time.monotonic() - started,
        )
        return path, data
    return None


def idle_priority() -> None:
    """The lowest priority a process may give itself (nice 19): for the snapshot writer. On two
    cores, a child writing a snapshot of a few tens of thousands of remembered answers took
    0.4 - 1.6 s of a core every 5 s, and under an open loop of 1,000 orders/s that tipped the
    machine into saturation (p99 0.7 - 1.6 s, 73 ms with snapshots a minute apart). At nice 19
    it weighs 15 against a normal process's 1,024, so it finishes later when the cores are
    busy, but it does finish: SCHED_IDLE, tried first, starved it outright under a saturating
    load, and then no snapshot is taken and the journal behind it is never pruned. The
    journal, not the snapshot, is what keeps commands durable."""
    try:
        os.nice(19 - os.nice(0))
    except OSError:
        log.debug("snapshot writer: cannot lower its priority")


def fork_writer(
    directory: Path, make_data: Callable[[], dict[str, Any]], keep: int
) -> tuple[int, float]:
    """Write a snapshot from a forked child; returns (child pid, parent pause in ms).

    The child sees a copy-on-write image of the engine as it is now, so the parent goes on at
    once. The heap is frozen first: the collector then never walks the engine's millions of
    long-lived objects again (in the parent a full pass over them stalls commands for hundreds
    of milliseconds and, after a fork, copies every page it touches). The child writes at idle
    priority (`idle_priority`).
    """
    started = time.perf_counter()
    gc.freeze()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            idle_priority()
            write(directory, make_data(), int(time.time() * 1000), keep)
            code = 0
        finally:
            os._exit(code)
    return pid, (time.perf_counter() - started) * 1000
