"""The floor: the least a journaled command can cost on this machine.

A command crosses Redis twice (the gateway's XADD read by the engine's XREADGROUP, the
engine's answer XADDed and read back) and the engine fdatasyncs its journal before it answers.
So the floor is one such Redis round trip from Python plus one fdatasync of a small record on
the journal's disk; every latency in the table is also given as a multiple of it.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from pathlib import Path

import redis

PAYLOAD = os.urandom(120)  # about a serialized CREATE_TRADE command
RECORD = os.urandom(64)


def redis_round_trip_ms(redis_url: str, samples: int) -> float:
    """Median of XADD, XREADGROUP, XADD the answer, XREAD it, on streams of the bench's own."""
    client = redis.Redis.from_url(redis_url)
    tag = uuid.uuid4().hex[:8]
    requests, answers, group = f"bench:floor:{tag}:in", f"bench:floor:{tag}:out", "floor"
    try:
        client.xgroup_create(requests, group, id="0", mkstream=True)
        answer_id = b"0-0"
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            client.xadd(requests, {b"p": PAYLOAD})
            entries = client.xreadgroup(group, "engine", {requests: ">"}, count=1)
            entry_id, fields = entries[0][1][0]
            client.xadd(answers, {b"p": fields[b"p"]})
            read = client.xread({answers: answer_id}, count=1)
            answer_id = read[0][1][0][0]
            times.append(time.perf_counter() - started)
            client.xack(requests, group, entry_id)  # outside the timed part: not on the path
        return statistics.median(times) * 1000
    finally:
        client.delete(requests, answers)
        client.close()


def fdatasync_ms(directory: Path, samples: int) -> float:
    """Median of appending one small record to a file in `directory` and fdatasyncing it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"floor-{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, RECORD)
        os.fsync(fd)  # the file's creation is not what a journal append pays
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            os.write(fd, RECORD)
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def measure(redis_url: str, journal_dir: Path, *, samples: int) -> dict[str, float]:
    redis_ms = redis_round_trip_ms(redis_url, samples)
    sync_ms = fdatasync_ms(journal_dir, max(20, samples // 4))
    return {"floor.redis": redis_ms, "floor.fsync": sync_ms, "floor.total": redis_ms + sync_ms}
