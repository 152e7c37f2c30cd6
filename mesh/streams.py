"""Redis Streams names and entry layout shared by the services (SPEC section 5).

Each entry carries one serialized protobuf under the field `p`. Answers go to the asking
gateway instance's own stream, `engine_response:<instance>` (`response_stream`), so each
instance reads only its own, with the asking user's id under `u`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mesh.error_text import describe

log = logging.getLogger(__name__)

PRICES = "engine_input"
PRICE_GROUP = "engine_price_group"
COMMANDS = "backend-to-engine"
COMMAND_GROUP = "engine_orders_group"
RESPONSES = "engine_response"
EVENTS = "engine_events"
EVENT_GROUP = "liquidation_group"
CANDLE_GROUP = "candle_group"
AUDIT = "engine_audit"
"""Every answered state-changing command (exchange.v1.CommandAudit), in answer order."""
AUDIT_GROUP = "audit_group"
REVOCATIONS = "session_revocations"
"""Sign-outs (exchange.v1.SessionRevocation), followed by every gateway process."""

PAYLOAD = b"p"
ASKER = b"u"
"""On an answer: the user id of the command it answers. A gateway matches answers to its
callers by (user id, order id), so two users' commands with one order id never meet."""

# Approximate caps so streams cannot grow without bound. Generous: consumers read far faster.
MAXLEN_PRICES = 200_000
MAXLEN_COMMANDS = 1_000_000
MAXLEN_RESPONSES = 10_000
"""Per instance: a gateway reads its answers within milliseconds."""
MAXLEN_EVENTS = 1_000_000
MAXLEN_AUDIT = 1_000_000
MAXLEN_REVOCATIONS = 100_000

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

T = TypeVar("T")


def text(value: object) -> str:
    """A Redis reply's bytes (or anything else) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def entry_id_parts(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id `<ms>-<seq>` as numbers, in the order Redis sorts them."""
    ms, _, seq = text(entry_id).partition("-")
    return int(ms or 0), int(seq or 0)


def group_has_done(
    target: tuple[int, int], last_delivered: bytes | str, oldest_pending: bytes | str | None
) -> bool:
    """Whether a consumer group is done with every entry up to `target`: has delivered it
    (its last-delivered-id) and holds none at or before it unacknowledged (`oldest_pending`,
    XPENDING's oldest id; None with nothing pending). Batches may be acknowledged out of
    order, so the newest one's ack is not enough."""
    if entry_id_parts(last_delivered) < target:
        return False
    return oldest_pending is None or entry_id_parts(oldest_pending) > target


def entry_id_ms(entry_id: bytes | str) -> int:
    """The time part of an entry id: when Redis added it, in ms since the epoch."""
    return entry_id_parts(entry_id)[0]


RESPONSES_TTL_S = 120
"""How long an instance's answer stream outlives its last answer: the engine sets it with each
batch that answers there, so the stream of an instance killed with -9 (which deletes none)
leaves Redis two minutes after its last answer instead of holding up to MAXLEN_RESPONSES
answers for good. (A live instance's idle stream goes too; the next answer makes it anew.)"""


def response_stream(instance: str | bytes) -> str:
    """The answers stream of one gateway instance (the command's `reply_to`)."""
    return f"{RESPONSES}:{text(instance)}"


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=10)


async def ensure_group(client: aioredis.Redis, stream: str, group: str, start: str = "0") -> None:
    """Create the consumer group (and the stream) if missing."""
    try:
        await client.xgroup_create(stream, group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def retry_forever(
    what: str,
    action: Callable[[], Awaitable[T]],
    *,
    first_delay: float = 0.1,
    max_delay: float = 5.0,
) -> T:
    """Run `action` until it succeeds, backing off on Redis errors with one log line each."""
    delay = first_delay
    while True:
        try:
            result = await action()
        except REDIS_ERRORS as exc:
            log.warning("%s: redis unavailable (%s); retrying in %.1fs", what, describe(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if delay != first_delay:
            log.info("%s: redis is back", what)
        return result
