"""The WebSocket over a real socket: uvicorn serving the facade, a websockets client, and the
fake gRPC streams behind it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace

import grpc
import pytest
import websockets
from exchange.v1 import events_pb2, prices_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.rest import ws
from tests.rest.conftest import Recorder, dec, live_ws, session_token


@pytest.fixture
async def ws_url(app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    async with live_ws(app) as url:
        yield url


async def _next(socket, kind: str) -> dict:  # type: ignore[no-untyped-def]
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        if message["type"] == kind:
            return message


async def test_prices_arrive_and_stream_is_cancelled(ws_url, recorder: Recorder) -> None:
    recorder.ticks = [
        prices_pb2.PriceTick(
            asset="SOL_USDC",
            bid=dec(236_100_000, 6),
            ask=dec(236_140_000, 6),
            ts_us=1_700_000_000_123_456,
        ),
        prices_pb2.PriceTick(
            asset="BTC_USDC",
            bid=dec(1_000_000_000, 4),
            ask=dec(1_000_010_000, 4),
            ts_us=1_700_000_000_200_000,
        ),
    ]
    async with websockets.connect(ws_url) as socket:
        first = await _next(socket, "price")
        second = await _next(socket, "price")

    assert first == {
        "type": "price",
        "asset": "SOL_USDC",
        "bid": "236100000",
        "ask": "236140000",
        "decimal": 6,
        "ts": 1_700_000_000_123,
    }
    assert (second["asset"], second["decimal"], second["ask"]) == ("BTC_USDC", 4, "1000010000")
    # Closing the socket cancels the gRPC stream on the server side.
    await asyncio.wait_for(recorder.stream_cancelled.wait(), timeout=5)


async def test_auth_message_subscribes_to_trade_events(ws_url, recorder) -> None:
    trade = types_pb2.Trade(
        trade_id="t-1",
        asset="ETH_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=dec(1_000_000, 4),
        leverage=100,
        entry_price=dec(3_000_000_000, 6),
        status=types_pb2.TRADE_STATUS_OPEN,
    )
    recorder.events = [
        events_pb2.TradeEvent(
            event_seq=7,
            kind=events_pb2.TRADE_EVENT_KIND_OPENED,
            trade=trade,
            order_id="o-1",
            ts_ms=1234,
        )
    ]
    token = session_token()
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token}))
        assert (await _next(socket, "auth"))["status"] == "ok"
        event = await _next(socket, "trade")

    assert event["event"] == "OPENED"
    assert event["eventSeq"] == 7
    assert event["trade"]["tradeId"] == "t-1"
    assert event["trade"]["leverage"] == 10
    assert event["trade"]["entryPrice"] == 3000
    streams = [meta for name, _, meta in recorder.calls if name == "StreamTradeEvents"]
    assert streams[0]["authorization"] == f"Bearer {token}"


async def test_a_broken_trade_stream_closes_the_socket_after_its_events(ws_url, recorder) -> None:
    """Events missed while a new stream opened would never come: the page must reconnect and
    re-read its trades, so the socket is closed (1013), after the events already received."""
    recorder.events = [
        events_pb2.TradeEvent(
            event_seq=seq,
            kind=events_pb2.TRADE_EVENT_KIND_OPENED,
            trade=types_pb2.Trade(trade_id=f"t-{seq}", asset="SOL_USDC"),
        )
        for seq in (1, 2)
    ]
    recorder.events_end = grpc.StatusCode.ABORTED
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": session_token()}))
        got = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
                if message["type"] == "trade":
                    got.append(message["eventSeq"])
    assert got == [1, 2]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "re-read your trades" in closed.value.rcvd.reason
    # One stream: no silent second one that would hide the gap.
    assert recorder.names().count("StreamTradeEvents") == 1


async def test_cookie_authenticates_the_socket(ws_url, recorder) -> None:
    token = session_token()
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": f"authToken={token}"}
    ) as socket:
        assert (await _next(socket, "auth"))["status"] == "ok"
        assert recorder.subscribed.is_set()


async def test_a_bearer_header_authenticates_the_socket(ws_url, recorder) -> None:
    """As REST takes it: a client that sends its token the way it does everywhere else is
    not left without its events (nor a word why)."""
    headers = {"Authorization": f"Bearer {session_token()}"}
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        assert (await _next(socket, "auth"))["status"] == "ok"
        assert recorder.subscribed.is_set()
    headers = {"Authorization": "Bearer forged.token.x"}
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        assert (await _next(socket, "error"))["code"] == "UNAUTHENTICATED"


async def test_a_key_given_twice_is_refused_saying_so(ws_url, recorder) -> None:
    async with websockets.connect(ws_url) as socket:
        await socket.send('{"type": "auth", "token": "x", "type": "ping"}')
        error = await _next(socket, "error")
        assert (error["code"], error["message"]) == (
            "INVALID_ARGUMENT",
            "type appears more than once",
        )
        await socket.send('{"type": "ping"}')
        assert (await _next(socket, "pong")) == {"type": "pong"}
        # A text message is JSON text as it is, never re-read as UTF-16 (NULs between).
        await socket.send("".join("\x00" + c for c in '{"type":"ping"}'))
        assert (await _next(socket, "error"))["code"] == "INVALID_ARGUMENT"
    assert "StreamTradeEvents" not in recorder.names()


async def test_auth_ok_waits_until_the_trade_stream_is_subscribed(ws_url, recorder) -> None:
    """An event of an order placed right after "ok" must not be missed: "ok" comes once the
    server has subscribed the stream (its headers), however long that takes."""
    recorder.subscribe_delay_s = 0.3
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": session_token()}))
        assert (await _next(socket, "auth"))["status"] == "ok"
        assert recorder.subscribed.is_set()


async def test_a_cookie_socket_hears_of_its_session_before_any_price(ws_url, recorder) -> None:
    """The page learns from the first message whether it is signed in (web/src/main.ts):
    prices wait until the cookie's session is decided, however long the subscription takes."""
    recorder.ticks = [
        prices_pb2.PriceTick(
            asset="SOL_USDC", bid=dec(236_100_000, 6), ask=dec(236_140_000, 6), ts_us=1
        )
    ]
    recorder.subscribe_delay_s = 0.3
    headers = {"Cookie": f"authToken={session_token()}"}
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        first = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        assert first == {"type": "auth", "status": "ok"}
        assert (await _next(socket, "price"))["asset"] == "SOL_USDC"


async def test_a_refused_session_gets_an_error_and_no_ok(ws_url, recorder) -> None:
    recorder.events_refused = grpc.StatusCode.UNAUTHENTICATED
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": session_token()}))
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        while message["type"] == "price":
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        assert (message["type"], message["code"]) == ("error", "UNAUTHENTICATED"), message


async def test_cookie_from_a_foreign_origin_is_ignored(ws_url, recorder) -> None:
    token = session_token()
    headers = {"Cookie": f"authToken={token}", "Origin": "https://evil.example"}
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert (await _next(socket, "pong")) == {"type": "pong"}
    assert "StreamTradeEvents" not in recorder.names()


async def test_bad_token_and_bad_messages_get_errors(ws_url, recorder) -> None:
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": "forged.token.x"}))
        error = await _next(socket, "error")
        assert error["code"] == "UNAUTHENTICATED"
        await socket.send("not json")
        assert (await _next(socket, "error"))["code"] == "INVALID_ARGUMENT"
    assert "StreamTradeEvents" not in recorder.names()


async def test_a_stream_failing_before_it_subscribes_closes_the_socket_with_no_price(
    ws_url, recorder
) -> None:
    """Neither "ok" nor a refusal (the sessions could not be checked, say): the page must not
    take a price for "signed out"; the socket is closed, and the page reconnects."""
    recorder.ticks = [
        prices_pb2.PriceTick(
            asset="SOL_USDC", bid=dec(236_100_000, 6), ask=dec(236_140_000, 6), ts_us=1
        )
    ]
    recorder.events_refused = grpc.StatusCode.UNAVAILABLE
    headers = {"Cookie": f"authToken={session_token()}"}
    got = []
    async with websockets.connect(ws_url, additional_headers=headers) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                got.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=5)))
    assert got == []
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def test_a_refused_token_ends_the_events_of_the_session_before_it(ws_url, recorder) -> None:
    """ "sign in again" means what it says: the socket no longer carries the earlier session's
    events (they went on, to a client told its session was not valid)."""
    async with websockets.connect(ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": session_token()}))
        assert (await _next(socket, "auth"))["status"] == "ok"
        await socket.send(json.dumps({"type": "auth", "token": "forged.token.x"}))
        assert (await _next(socket, "error"))["code"] == "UNAUTHENTICATED"
        await asyncio.wait_for(recorder.events_cancelled.wait(), timeout=5)


class _BrokenPriceStream:
    """StreamPrices as a client call: `ticks` prices, then the stream fails."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks

    def __aiter__(self) -> AsyncIterator[xs.StreamPricesResponse]:
        return self._replies()

    async def _replies(self) -> AsyncIterator[xs.StreamPricesResponse]:
        tick = prices_pb2.PriceTick(asset="SOL_USDC", bid=dec(1, 6), ask=dec(2, 6), ts_us=1)
        for _ in range(self.ticks):
            yield xs.StreamPricesResponse(tick=tick)
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "gone"
        )

    def cancel(self) -> bool:
        return True


async def test_a_client_behind_on_its_prices_still_hears_they_stopped(settings) -> None:
    """Prices are dropped for a socket too slow to take them, the next tick superseding; the
    word that the price stream broke is not a price: it waits for room."""
    exchange = SimpleNamespace(StreamPrices=lambda request: _BrokenPriceStream(ws.QUEUE_SIZE + 10))
    session = ws.WsSession(None, SimpleNamespace(exchange=exchange), settings)  # type: ignore[arg-type]
    session.session_decided.set()
    pump = asyncio.create_task(session._pump_prices())
    try:
        while not session.queue.full():  # nobody reads: the queue fills with prices
            await asyncio.sleep(0.01)
        taken = [await asyncio.wait_for(session.queue.get(), 5) for _ in range(ws.QUEUE_SIZE + 1)]
    finally:
        pump.cancel()
    assert [m["type"] for m in taken] == ["price"] * ws.QUEUE_SIZE + ["error"]
    assert taken[-1] == ws.PRICES_INTERRUPTED
