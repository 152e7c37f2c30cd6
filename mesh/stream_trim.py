"""Streams keep what a consumer group still needs, and let go of what every group has done.

Each stream's MAXLEN (mesh.streams) is a cap against a reader that is gone for good, not the
size a stream should have: kept to the cap, the command, event and audit streams held up to a
million entries each, hundreds of megabytes that Redis carries in memory and, with an
append-only file (the embedded Redis), writes out again at every rewrite of that file. A
rewrite forks Redis and copies the whole data set to disk; on two cores it stalled the
exchange (the open loop's p99 at 1,000/s read 0.7 - 1.2 s while rewrites ran, 50 - 80 ms
without).

So entries every group has acknowledged are trimmed: `XTRIM <stream> MINID ~ <id>`, where the
id is the oldest entry any group of the stream still needs, that is, its oldest pending entry,
or, with nothing pending, the last one it was handed. A group that stops reading holds the
stream where it stopped (then MAXLEN still caps it), and a stream with no group is left alone.
Readers without a group (the gateway's live tails) follow the newest entries and are not
behind a group for longer than one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from redis.exceptions import ResponseError

from mesh import streams
from mesh.resp import RespConnection

log = logging.getLogger(__name__)

TRIM_EVERY_S = 1.0
TRIMMED = (streams.COMMANDS, streams.PRICES, streams.EVENTS, streams.AUDIT)
"""The streams read through consumer groups."""


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms or 0), int(seq or 0)


async def oldest_needed(conn: RespConnection, stream: str) -> bytes | None:
    """The oldest entry of `stream` that some group still needs; None without a group."""
    needed: list[bytes] = []
    for flat in await conn.blocking(None, "XINFO", "GROUPS", stream):
        info = dict(zip(flat[::2], flat[1::2], strict=True))
        if int(info.get(b"pending") or 0):
            summary = await conn.blocking(None, "XPENDING", stream, info[b"name"])
            needed.append(summary[1])  # [count, oldest id, newest id, consumers]
        else:
            needed.append(info.get(b"last-delivered-id") or b"0-0")
    return min(needed, key=_id_key) if needed else None


async def trim_consumed(conn: RespConnection, stream: str) -> int:
    """Trim what every group of `stream` is done with; how many entries went."""
    try:
        oldest = await oldest_needed(conn, stream)
    except ResponseError as exc:  # no such stream yet: nothing to trim
        if "no such key" in str(exc).lower():
            return 0
        raise
    if oldest is None or oldest == b"0-0":
        return 0
    return int(await conn.blocking(None, "XTRIM", stream, "MINID", "~", oldest))


async def keep_trimmed(
    redis_url: str,
    stop: asyncio.Event,
    names: Sequence[str] = TRIMMED,
    every_s: float = TRIM_EVERY_S,
) -> None:
    """Trim `names` every `every_s` until `stop`; a Redis outage is waited out."""
    conn = RespConnection(redis_url)
    try:
        while not stop.is_set():
            for stream in names:
                try:
                    await trim_consumed(conn, stream)
                except (*streams.REDIS_ERRORS, TimeoutError) as exc:
                    log.debug("stream trim: %s unavailable (%s)", stream, exc)
                    break
                except Exception as exc:  # trimming is housekeeping: it never stops a writer
                    log.warning("stream trim: %s failed (%s)", stream, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    finally:
        conn.close()
