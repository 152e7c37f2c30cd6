"""Streams keep what their readers still need, and let go of what every one has done.

Each stream's MAXLEN (mesh.streams) is a cap against a reader that is gone for good, not the
size a stream should have: kept to the cap, the command, event and audit streams held up to a
million entries each, hundreds of megabytes that Redis carries in memory and, with an
append-only file (the embedded Redis), writes out again at every rewrite of that file. A
rewrite forks Redis and copies the whole data set to disk; on two cores it stalled the
exchange (the open loop's p99 at 1,000/s read 0.7 - 1.2 s while rewrites ran).

So an entry goes once both of these hold:
- every consumer group of the stream is done with it: it is older than the group's oldest
  pending entry or, with nothing pending, than the last entry the group was handed. A group
  that stops reading holds the stream where it stopped (MAXLEN still caps it), and a stream
  with no group is left alone;
- on the event stream, it is older than `KEEP_RECENT_MS` by Redis's clock, for the readers
  without a group: each gateway process's trade-event tail follows the newest entries with
  XREAD from a cursor, and one that loses its connection is back within a few seconds (its read
  is given up 5 s past its block, then it backs off). Within that window it misses nothing.
  The command and audit streams have no such reader: there the groups alone decide.

The price stream is not trimmed: a gateway starting up looks back through it for each asset's
latest tick, and an asset that has not ticked for a while must still be found (MAXLEN caps it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from redis.exceptions import ResponseError

from mesh import streams
from mesh.resp import RespConnection

log = logging.getLogger(__name__)

TRIM_EVERY_S = 1.0
KEEP_RECENT_MS = 15_000
TRIM_LIMIT = 100_000
"""At most this many entries go per stream and round (XTRIM's own default for `~` is 100
nodes, 10,000 entries: slower than a liquidation storm writes)."""
TRIMMED = {streams.COMMANDS: 0, streams.EVENTS: KEEP_RECENT_MS, streams.AUDIT: 0}
"""The streams read through consumer groups that nobody looks back through, each with how
long its entries stay for readers without a group (ms)."""


async def oldest_needed(conn: RespConnection, stream: str) -> bytes | None:
    """The oldest entry of `stream` that some group still needs; None without a group."""
    needed: list[bytes] = []
    for flat in await conn.blocking(None, "XINFO", "GROUPS", stream):
        info = dict(zip(flat[::2], flat[1::2], strict=True))
        delivered = info.get(b"last-delivered-id") or b"0-0"
        if int(info.get(b"pending") or 0):
            summary = await conn.blocking(None, "XPENDING", stream, info[b"name"])
            # [count, oldest id, newest id, consumers]; all acked since XINFO: nil.
            needed.append(summary[1] or delivered)
        else:
            needed.append(delivered)
    return min(needed, key=streams.entry_id_parts) if needed else None


async def trim_consumed(
    conn: RespConnection, stream: str, keep_recent_ms: int = KEEP_RECENT_MS
) -> int:
    """Trim what every group of `stream` is done with and is older than `keep_recent_ms`;
    how many entries went."""
    try:
        oldest = await oldest_needed(conn, stream)
    except ResponseError as exc:  # no such stream yet: nothing to trim
        if "no such key" in str(exc).lower():
            return 0
        raise
    if oldest is None or oldest == b"0-0":
        return 0
    seconds, micros = await conn.blocking(None, "TIME")
    recent = b"%d-0" % max(0, int(seconds) * 1000 + int(micros) // 1000 - keep_recent_ms)
    bound = min(oldest, recent, key=streams.entry_id_parts)
    removed = await conn.blocking(None, "XTRIM", stream, "MINID", "~", bound, "LIMIT", TRIM_LIMIT)
    return int(removed)


async def keep_trimmed(
    redis_url: str,
    stop: asyncio.Event,
    trimmed: Mapping[str, int] = TRIMMED,
    every_s: float = TRIM_EVERY_S,
) -> None:
    """Trim each stream of `trimmed` (keeping its recent window) every `every_s` until `stop`;
    a Redis outage is waited out."""
    conn = RespConnection(redis_url)
    try:
        while not stop.is_set():
            for stream, keep_recent_ms in trimmed.items():
                try:
                    await trim_consumed(conn, stream, keep_recent_ms)
                except (*streams.REDIS_ERRORS, TimeoutError) as exc:
                    log.debug("stream trim: %s unavailable (%s)", stream, exc)
                    break
                except Exception as exc:  # trimming is housekeeping: it never stops a writer
                    log.warning("stream trim: %s failed (%s)", stream, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    finally:
        conn.close()
