"""The engine's readers: each of its two input streams through its consumer group into one
inbox, a whole XREADGROUP reply at a time.

An inbox item is one read: (stream, entries as hiredis returned them, when it was read). The
entries stay the nested lists hiredis built, `[entry_id, [field, value, ...] or None]`, and
nothing is made per entry until the engine applies it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.exceptions import ResponseError

from mesh import streams
from mesh.resp import RespConnection, pack

log = logging.getLogger(__name__)

READ_COUNT = 2000
INBOX_READS = 2
"""Reads waiting at most before a reader waits. Few: while the engine is busy, entries gather
in Redis and the next read takes them all at once, rather than many small reads each costing
a round trip and a wake-up."""
BLOCK_MS = 1000

Read = tuple[str, list[Any], int]
"""(stream, entries, time.perf_counter_ns() when read)."""


def payload_of(fields: list[bytes] | None) -> bytes | None:
    """The `p` field of an entry's flat field list (None for an entry trimmed while pending)."""
    if not fields:
        return None
    if fields[0] == streams.PAYLOAD:
        return fields[1]
    for index in range(2, len(fields) - 1, 2):
        if fields[index] == streams.PAYLOAD:
            return fields[index + 1]
    return None


async def read_into(
    redis_url: str,
    consumer: str,
    stream: str,
    group: str,
    inbox: asyncio.Queue[Read],
    stop: asyncio.Event,
) -> None:
    """Feeds one stream into the inbox: first this consumer's unacknowledged entries
    (delivered before a crash), then new ones."""
    conn = RespConnection(redis_url)
    cursor = b"0"
    delay = 0.1
    try:
        while not stop.is_set():
            block = () if cursor != b">" else ("BLOCK", BLOCK_MS)
            packed = pack(
                "XREADGROUP", "GROUP", group, consumer, "COUNT", READ_COUNT, *block,
                "STREAMS", stream, cursor,
            )  # fmt: skip
            try:
                (reply,) = await conn.call(packed, 1)
                if isinstance(reply, ResponseError):
                    raise reply
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning(
                    "engine: group %s on %s vanished (redis restarted?): recreating", group, stream
                )
                try:
                    await conn.command("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
                except ResponseError as again:
                    if "BUSYGROUP" not in str(again):
                        raise
                cursor = b"0"
                continue
            except streams.REDIS_ERRORS as exc:
                log.warning("engine: reading %s failed (%s); retrying in %.1fs", stream, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            read_ns = time.perf_counter_ns()
            entries = reply[0][1] if reply else []
            if cursor != b">":
                if not entries:
                    cursor = b">"
                    continue
                log.info(
                    "engine: redelivering %d unacknowledged entries of %s", len(entries), stream
                )
                cursor = entries[-1][0]
            if entries:
                await inbox.put((stream, entries, read_ns))
    finally:
        conn.close()
