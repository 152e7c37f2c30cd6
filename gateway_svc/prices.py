"""Live market data and trade events for the gRPC server, read from the engine's streams.

`PriceBook` follows `engine_input` (the poller's price batches) and `TradeEventHub` follows
`engine_events`, both with plain XREAD: they are observers, not consumers, so they take nothing
from the engine's or the persister's groups. Each keeps a fan-out to subscribers with bounded
queues, so a slow stream client never holds up the others. A price subscriber that falls behind
loses its oldest ticks (the next tick supersedes them); a trade-event subscriber is never left
with a silent hole: its subscription ends as `lost` (after the events it holds), and the stream
tells the client to re-read its trades.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

import redis.asyncio as aioredis
from exchange.v1 import events_pb2, prices_pb2
from google.protobuf.message import DecodeError

from gateway_svc.engine_client import READ_COUNT, Fields, StreamTail, last_entry_id
from mesh import streams
from mesh.assets import SUPPORTED_ASSETS
from mesh.price_ticks import decode_batch, newest_ticks, usable

log = logging.getLogger(__name__)

T = TypeVar("T")

QUEUE_SIZE = 256
"""A price subscriber's queue (it skips to the newest when full)."""
TAIL_READ = READ_COUNT
"""Entries one XREAD of a stream hands the fan-out at once, on a tail of the hub's own or on
the engine client's (StreamTail's default count)."""


def trade_event_queue_size(max_open_trades: int, max_pending_orders: int) -> int:
    """A trade-event subscriber's queue: twice what one input can make for one user (each
    open trade closed, each pending order filled and closed on the same tick: two events
    apiece), plus one read of the tail. A reader that keeps up never loses; one that falls
    this far behind ends as `lost`."""
    return 2 * 2 * (max_open_trades + max_pending_orders) + TAIL_READ


class Subscription(Generic[T]):
    """One stream client's queue. `get()` returns None once the subscription is closed.

    Full, it drops its oldest item; a `lossless` one ends instead, as `lost`, and keeps what it
    holds for its reader (see `lose`)."""

    def __init__(self, maxsize: int = QUEUE_SIZE, lossless: bool = False) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._lossless = lossless
        self._wakeup = asyncio.Event()
        self.closed = False
        self.lost = False
        self.dropped = 0

    def push(self, item: T) -> None:
        if self.closed:
            return
        if len(self._items) >= self._maxsize:
            if self._lossless:
                self.lose()
                return
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._wakeup.set()

    def lose(self) -> None:
        """Items meant for this subscriber were not delivered: it ends, marked `lost`, once its
        reader has taken what it holds."""
        self.lost = True
        self.close()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def get(self, timeout: float | None = None) -> T | None:
        """The next item; None when closed (after the queued items) or after `timeout`."""
        while not self._items:
            if self.closed:
                return None
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None
        return self._items.popleft()


class PriceBook:
    """The latest tick per asset (for GetPrice) and a fan-out of new ticks (StreamPrices)."""

    def __init__(self, redis: aioredis.Redis, queue_size: int = QUEUE_SIZE) -> None:
        self._redis = redis
        self._queue_size = queue_size
        self._latest: dict[str, prices_pb2.PriceTick] = {}
        self._subscribers: dict[Subscription[prices_pb2.PriceTick], frozenset[str]] = {}
        self._closed = False
        self._tail = StreamTail(
            redis, streams.PRICES, self._on_entry, name="price book", start_at=self._load
        )

    async def start(self) -> None:
        await self._tail.start()

    async def stop(self) -> None:
        self.close()
        await self._tail.stop()

    def close(self) -> None:
        """End every subscription (their streams finish) and refuse new ones."""
        self._closed = True
        for subscription in self._subscribers:
            subscription.close()
        self._subscribers.clear()

    def latest(self, asset: str) -> prices_pb2.PriceTick | None:
        return self._latest.get(asset)

    def subscribe(
        self, assets: Iterable[str] = SUPPORTED_ASSETS
    ) -> Subscription[prices_pb2.PriceTick]:
        subscription: Subscription[prices_pb2.PriceTick] = Subscription(self._queue_size)
        if self._closed:
            subscription.close()
        else:
            self._subscribers[subscription] = frozenset(assets)
        return subscription

    def unsubscribe(self, subscription: Subscription[prices_pb2.PriceTick]) -> None:
        self._subscribers.pop(subscription, None)

    async def _load(self) -> bytes:
        """Seed the book from the newest entries, walking back until every asset has a
        price (or the look-back is used up); return the id to follow from."""
        newest = await last_entry_id(self._redis, streams.PRICES)
        for asset, tick in (await newest_ticks(self._redis)).items():
            self._latest.setdefault(asset, tick)
        return newest

    def _on_entry(self, entry_id: bytes, fields: Fields) -> None:
        batch = decode_batch(entry_id, fields)
        if batch is None:
            return
        for tick in batch.ticks:
            if not usable(tick):
                continue
            self._latest[tick.asset] = tick
            for subscription, assets in self._subscribers.items():
                if tick.asset in assets:
                    subscription.push(tick)


class TradeEventHub:
    """New trade events, fanned out to the streams of the user they belong to.

    The engine numbers its events 1, 2, 3... (`event_seq`). While anyone listens, a jump in
    that number is logged: events this process never read, trimmed from `engine_events` while
    it was away from Redis longer than the stream keeps them (mesh.stream_trim), or one it could
    not decode (logged as such too). The events themselves are in Postgres; a subscriber
    re-reads its trades there."""

    def __init__(
        self, redis: aioredis.Redis, queue_size: int, tail: StreamTail | None = None
    ) -> None:
        """With `tail` (the engine client's, which reads this process's answers), the events
        are read in the same XREAD, and that tail's owner starts and stops it; without, the
        hub reads them on a tail of its own."""
        self._queue_size = queue_size
        self._by_user: dict[str, set[Subscription[events_pb2.TradeEvent]]] = {}
        self._closed = False
        self._last_seq: int | None = None  # while someone listens: the newest event read
        self.missed = 0
        self._own_tail: StreamTail | None = None
        if tail is None:
            self._own_tail = StreamTail(
                redis, streams.EVENTS, self._on_entry, name="trade event hub"
            )
        else:
            tail.follow(streams.EVENTS, self._on_entry)

    async def start(self) -> None:
        if self._own_tail is not None:
            await self._own_tail.start()

    async def stop(self) -> None:
        self.close()
        if self._own_tail is not None:
            await self._own_tail.stop()

    def close(self) -> None:
        self._closed = True
        for subscriptions in self._by_user.values():
            for subscription in subscriptions:
                subscription.close()
        self._by_user.clear()

    def subscribe(self, user_id: str) -> Subscription[events_pb2.TradeEvent]:
        subscription: Subscription[events_pb2.TradeEvent] = Subscription(
            self._queue_size, lossless=True
        )
        if self._closed:
            subscription.close()
        else:
            self._by_user.setdefault(user_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, user_id: str, subscription: Subscription[events_pb2.TradeEvent]) -> None:
        subscriptions = self._by_user.get(user_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._by_user[user_id]

    def _on_entry(self, entry_id: bytes, fields: Fields) -> None:
        if not self._by_user:
            self._last_seq = None  # nobody listening on this process: no event to decode
            return
        try:
            event = events_pb2.TradeEvent.FromString(fields.get(streams.PAYLOAD, b""))
        except DecodeError:
            log.error("trade events: undecodable event %s", entry_id)
            return
        self._check_gap(event.event_seq)
        for subscription in self._by_user.get(event.trade.user_id, ()):
            subscription.push(event)

    @property
    def subscribers(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._by_user.values())

    def _lose_everyone(self) -> None:
        """Whose events were missed is unknown: every subscriber may have lost some."""
        for subscriptions in self._by_user.values():
            for subscription in subscriptions:
                subscription.lose()
        self._by_user.clear()
        self._last_seq = None

    def _check_gap(self, seq: int) -> None:
        last = self._last_seq
        if last is not None and seq > last + 1:
            self.missed += seq - last - 1
            log.warning(
                "trade events: %d events (event_seq %d to %d) were gone from %s before this "
                "process read them; its %d subscribers' streams end as EVENTS_LOST (the events "
                "are in Postgres)",
                seq - last - 1, last + 1, seq - 1, streams.EVENTS, self.subscribers,
            )  # fmt: skip
            self._lose_everyone()
        # An older event (none is expected: the engine publishes in order) moves nothing back.
        self._last_seq = seq if last is None else max(last, seq)
