"""Prices, candles, closed trades and trade events: read from the real streams and Postgres."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from exchange.v1 import events_pb2, exchange_service_pb2_grpc, prices_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.db import Database
from gateway_svc.prices import (
    TAIL_READ,
    PriceBook,
    Subscription,
    TradeEventHub,
    trade_event_queue_size,
)
from mesh import streams
from mesh.config import Settings
from tests.gateway_grpc.conftest import CapturingMailer, bearer, sign_in, trailers

Stub = exchange_service_pb2_grpc.ExchangeServiceStub
T0_US = 1_700_000_000_000_000


def tick(
    asset: str, bid: int, ask: int, scale: int = 6, ts_us: int = T0_US
) -> prices_pb2.PriceTick:
    return prices_pb2.PriceTick(
        asset=asset,
        bid=types_pb2.Decimal(units=bid, scale=scale),
        ask=types_pb2.Decimal(units=ask, scale=scale),
        ts_us=ts_us,
    )


async def publish(redis: aioredis.Redis, *ticks: prices_pb2.PriceTick) -> None:
    batch = prices_pb2.PriceBatch(ticks=list(ticks), source="test")
    await redis.xadd(streams.PRICES, {streams.PAYLOAD: batch.SerializeToString()})


async def eventually_price(exchange: Stub, asset: str) -> xs.GetPriceResponse:
    for _ in range(100):
        try:
            return await exchange.GetPrice(xs.GetPriceRequest(asset=asset))
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
        await asyncio.sleep(0.02)
    raise AssertionError(f"no price for {asset}")


async def test_get_price_is_unavailable_then_follows_the_feed(
    exchange: Stub, redis: aioredis.Redis
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.GetPrice(xs.GetPriceRequest(asset="SOL_USDC"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await publish(redis, tick("SOL_USDC", 236_100_000, 236_140_000))
    reply = await eventually_price(exchange, "SOL_USDC")
    assert (reply.tick.ask.units, reply.tick.ask.scale) == (236_140_000, 6)
    # Ticks the engine would not trade on (bid > ask, unknown asset) are ignored.
    await publish(redis, tick("SOL_USDC", 5, 4), tick("DOGE_USDC", 1, 2))
    await publish(redis, tick("SOL_USDC", 236_000_000, 236_010_000))
    for _ in range(100):
        reply = await exchange.GetPrice(xs.GetPriceRequest(asset="SOL_USDC"))
        if reply.tick.ask.units == 236_010_000:
            break
        assert reply.tick.ask.units == 236_140_000
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the newest price never arrived")


async def test_price_book_starts_from_what_is_already_in_the_stream(
    redis: aioredis.Redis,
) -> None:
    await publish(redis, tick("BTC_USDC", 1_000_000_000, 1_000_100_000, scale=4))
    for i in range(300):  # the newest batches hold only SOL: BTC is further back
        await publish(redis, tick("SOL_USDC", 236_000_000 + i, 236_100_000 + i))
    book = PriceBook(redis)
    await book.start()
    try:
        sol, btc = book.latest("SOL_USDC"), book.latest("BTC_USDC")
        assert sol is not None and sol.ask.units == 236_100_299
        assert btc is not None and btc.ask.units == 1_000_100_000
        assert book.latest("ETH_USDC") is None
    finally:
        await book.stop()


async def test_stream_prices_sends_the_current_price_then_new_ticks(
    exchange: Stub, redis: aioredis.Redis
) -> None:
    await publish(redis, tick("ETH_USDC", 3_000_000_000, 3_000_500_000))
    await eventually_price(exchange, "ETH_USDC")
    call = exchange.StreamPrices(xs.StreamPricesRequest(assets=["ETH_USDC"]))
    first = await asyncio.wait_for(call.read(), 5)
    assert first.tick.ask.units == 3_000_500_000
    await publish(redis, tick("SOL_USDC", 1, 2), tick("ETH_USDC", 3_001_000_000, 3_001_500_000))
    second = await asyncio.wait_for(call.read(), 5)
    assert second.tick.asset == "ETH_USDC" and second.tick.ask.units == 3_001_500_000
    call.cancel()


async def test_stream_prices_refuses_unknown_assets(exchange: Stub) -> None:
    call = exchange.StreamPrices(xs.StreamPricesRequest(assets=["NOPE"]))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_slow_subscriber_loses_its_oldest_ticks_only() -> None:
    slow: Subscription[int] = Subscription(maxsize=3)
    for i in range(10):
        slow.push(i)
    assert slow.dropped == 7
    assert [await slow.get(), await slow.get(), await slow.get()] == [7, 8, 9]
    assert await slow.get(timeout=0.01) is None
    slow.close()
    assert await slow.get() is None


QUEUE = trade_event_queue_size(200, 200)


def trade_event(
    seq: int,
    user_id: str,
    kind: int = events_pb2.TRADE_EVENT_KIND_OPENED,
    trade_id: str = "11111111-2222-4333-8444-555555555555",
) -> events_pb2.TradeEvent:
    trade = types_pb2.Trade(
        trade_id=trade_id,
        user_id=user_id,
        email=f"{user_id}@example.com",
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=types_pb2.Decimal(units=1_000_000, scale=4),
        leverage=100,
        entry_price=types_pb2.Decimal(units=236_140_000, scale=6),
        status=types_pb2.TRADE_STATUS_OPEN,
        opened_at_ms=1_700_000_000_000,
    )
    if kind != events_pb2.TRADE_EVENT_KIND_OPENED:
        trade.status = types_pb2.TRADE_STATUS_CLOSED
        trade.exit_price.CopyFrom(types_pb2.Decimal(units=240_000_000, scale=6))
        trade.pnl.CopyFrom(types_pb2.Decimal(units=163_462, scale=4))
        trade.total_return.CopyFrom(types_pb2.Decimal(units=1_163_462, scale=4))
        trade.closed_at_ms = 1_700_000_060_000
    return events_pb2.TradeEvent(
        event_seq=seq, kind=kind, trade=trade, order_id="o-1", ts_ms=1_700_000_000_000
    )


async def test_trade_events_reach_only_their_owner(
    exchange: Stub, auth: Any, mailer: CapturingMailer, redis: aioredis.Redis
) -> None:
    alice = await sign_in(auth, mailer, "alice@example.com")
    bob = await sign_in(auth, mailer, "bob@example.com")
    call = exchange.StreamTradeEvents(
        xs.StreamTradeEventsRequest(), metadata=bearer(alice.session_token)
    )
    # The headers come once the stream is subscribed: nothing published after them is missed.
    await asyncio.wait_for(call.initial_metadata(), 5)
    for seq, user in ((1, bob.user_id), (2, alice.user_id), (3, bob.user_id), (4, alice.user_id)):
        event = trade_event(seq, user)
        await redis.xadd(streams.EVENTS, {streams.PAYLOAD: event.SerializeToString()})
    got = [await asyncio.wait_for(call.read(), 5) for _ in range(2)]
    assert [r.event.event_seq for r in got] == [2, 4]
    assert {r.event.trade.user_id for r in got} == {alice.user_id}
    call.cancel()


async def test_a_gap_in_the_event_numbers_ends_every_subscription_as_lost(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    hub = TradeEventHub(redis, QUEUE)
    await hub.start()
    try:
        listening, other = hub.subscribe("u1"), hub.subscribe("u2")
        # 9 and 10 never reach the stream (trimmed before this process read them): whose they
        # were is unknown, so every subscriber is told, after the events it holds.
        for seq in (7, 8, 11):
            payload = trade_event(seq, "u1").SerializeToString()
            await redis.xadd(streams.EVENTS, {streams.PAYLOAD: payload})
        got = [await listening.get(timeout=5) for _ in range(3)]
        assert [event.event_seq if event else None for event in got] == [7, 8, None]
        assert listening.lost and other.lost
        assert await other.get(timeout=5) is None
        assert hub.missed == 2
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("2 events (event_seq 9 to 10)" in message for message in warnings)

        # A new subscriber starts afresh: no gap is counted against the last one it never saw.
        again = hub.subscribe("u1")
        for seq in (12, 13):
            payload = trade_event(seq, "u1").SerializeToString()
            await redis.xadd(streams.EVENTS, {streams.PAYLOAD: payload})
        fresh = [await again.get(timeout=5) for _ in range(2)]
        assert [event.event_seq for event in fresh if event] == [12, 13]
        assert not again.lost
    finally:
        await hub.stop()


async def test_a_lossless_subscriber_too_slow_ends_as_lost_after_what_it_holds() -> None:
    slow: Subscription[int] = Subscription(maxsize=3, lossless=True)
    for i in range(5):
        slow.push(i)
    assert (slow.lost, slow.closed, slow.dropped) == (True, True, 0)
    assert [await slow.get(), await slow.get(), await slow.get()] == [0, 1, 2]
    assert await slow.get() is None


async def test_a_trade_event_reader_too_far_behind_is_told_events_were_lost(
    exchange: Stub, auth: Any, mailer: CapturingMailer, redis: aioredis.Redis, settings: Settings
) -> None:
    alice = await sign_in(auth, mailer, "alice@example.com")
    call = exchange.StreamTradeEvents(
        xs.StreamTradeEventsRequest(), metadata=bearer(alice.session_token)
    )
    # The headers come once the stream is subscribed: nothing published after them is missed.
    await asyncio.wait_for(call.initial_metadata(), 5)
    # Far more events than a subscriber's queue and the connection's buffers hold, while
    # the client reads nothing.
    queue = trade_event_queue_size(
        settings.max_open_trades_per_user, settings.max_pending_orders_per_user
    )
    published = 2 * queue
    async with redis.pipeline(transaction=True) as pipe:
        for seq in range(1, published + 1):
            event = trade_event(seq, alice.user_id)
            pipe.xadd(streams.EVENTS, {streams.PAYLOAD: event.SerializeToString()})
        await pipe.execute()
    await asyncio.sleep(1.0)  # the hub reads them all meanwhile
    delivered = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        while True:
            reply = await asyncio.wait_for(call.read(), 5)
            assert reply is not grpc.aio.EOF, "the stream ended without saying events were lost"
            delivered.append(reply.event.event_seq)
    # Those delivered came in order and without a hole; the rest were never sent.
    assert delivered == list(range(1, len(delivered) + 1))
    assert queue <= len(delivered) < published
    assert info.value.code() == grpc.StatusCode.ABORTED
    assert trailers(info.value)["x-error-code"] == "EVENTS_LOST"
    assert "re-read your trades" in (info.value.details() or "")


async def test_a_reader_that_keeps_up_loses_nothing_to_a_burst(redis: aioredis.Redis) -> None:
    """The events of one tick reach the hub in reads of TAIL_READ entries, all at once: a
    reader that takes each as soon as it runs must get them all (a queue of 256 once ended
    its stream on a burst of 300)."""
    hub = TradeEventHub(redis, QUEUE)  # not started: entries handed in directly
    listening = hub.subscribe("u1")
    got: list[int] = []

    async def reader() -> None:
        while (event := await listening.get(timeout=1)) is not None:
            got.append(event.event_seq)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    for read in range(3):  # three full reads, the loop turning between them
        for seq in range(read * TAIL_READ + 1, (read + 1) * TAIL_READ + 1):
            payload = trade_event(seq, "u1").SerializeToString()
            hub._on_entry(f"{seq}-0".encode(), {streams.PAYLOAD: payload})
        await asyncio.sleep(0)
    await task
    assert got == list(range(1, 3 * TAIL_READ + 1)) and not listening.lost


def test_no_gap_is_counted_across_a_time_nobody_listened(redis: aioredis.Redis) -> None:
    hub = TradeEventHub(redis, QUEUE)  # not started: entries handed in directly

    def read(seq: int) -> None:
        payload = trade_event(seq, "u1").SerializeToString()
        hub._on_entry(f"{seq}-0".encode(), {streams.PAYLOAD: payload})

    subscription = hub.subscribe("u1")
    read(1)
    hub.unsubscribe("u1", subscription)
    read(2)  # nobody listens: not even decoded
    hub.subscribe("u1")
    read(5)
    assert hub.missed == 0
    read(7)
    assert hub.missed == 1


async def test_trade_events_need_a_session(exchange: Stub) -> None:
    call = exchange.StreamTradeEvents(xs.StreamTradeEventsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_closed_trades_come_from_postgres_newest_first_paginated(
    exchange: Stub, auth: Any, mailer: CapturingMailer, db: Database
) -> None:
    alice = await sign_in(auth, mailer, "alice@example.com")
    ids = [f"11111111-2222-4333-8444-55555555555{i}" for i in range(3)]
    for i, trade_id in enumerate(ids):
        await db.record_trade_event(trade_event(2 * i + 1, alice.user_id, trade_id=trade_id))
        closed = trade_event(2 * i + 2, alice.user_id, events_pb2.TRADE_EVENT_KIND_CLOSED, trade_id)
        closed.trade.closed_at_ms = 1_700_000_060_000 + i * 1000
        await db.record_trade_event(closed)
    await db.record_trade_event(trade_event(99, "someone-else", trade_id="9" * 8 + ids[0][8:]))
    meta = bearer(alice.session_token)
    page = await exchange.ListClosedTrades(xs.ListClosedTradesRequest(limit=2), metadata=meta)
    assert [t.trade_id for t in page.trades] == [ids[2], ids[1]]
    assert page.next_page_token
    rest = await exchange.ListClosedTrades(
        xs.ListClosedTradesRequest(limit=2, page_token=page.next_page_token), metadata=meta
    )
    assert [t.trade_id for t in rest.trades] == [ids[0]] and not rest.next_page_token
    trade = rest.trades[0]
    assert trade.status == types_pb2.TRADE_STATUS_CLOSED
    assert (trade.exit_price.units, trade.exit_price.scale) == (240_000_000, 6)
    assert (trade.pnl.units, trade.pnl.scale) == (163_462, 4)
    assert not trade.HasField("liquidation_price")


async def test_candles_come_from_the_recorded_ticks(exchange: Stub, db: Database) -> None:
    minute_us = 60_000_000
    await db.record_ticks(
        [
            tick("SOL_USDC", 0, 236_000_000, ts_us=T0_US),
            tick("SOL_USDC", 0, 237_000_000, ts_us=T0_US + 1_000_000),
            tick("SOL_USDC", 0, 235_000_000, ts_us=T0_US + minute_us),
        ]
    )
    reply = await exchange.ListCandles(
        xs.ListCandlesRequest(asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_1M)
    )
    assert len(reply.candles) == 2
    first = reply.candles[0]
    assert first.time_ms == T0_US // 1000 - (T0_US // 1000) % 60_000
    assert (first.open.units, first.high.units, first.close.units) == (
        236_000_000,
        237_000_000,
        237_000_000,
    )
    assert first.open.scale == 6
