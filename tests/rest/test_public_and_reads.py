"""Public market data and the authenticated reads: exact JSON shapes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import prices_pb2, responses_pb2, types_pb2

from tests.rest.conftest import Recorder, dec


def _exact(response) -> object:  # type: ignore[no-untyped-def]
    return json.loads(response.content, parse_float=Decimal)


async def test_supported_assets(client) -> None:
    response = await client.get("/api/v1/supportedAssets")
    assert response.status_code == 200
    assert response.json() == ["SOL_USDC", "ETH_USDC", "BTC_USDC"]


async def test_price_is_the_seed_shape(client, recorder: Recorder) -> None:
    """The seed's three fields, with bid and ask beside them (as SPEC allows), and the quote's
    time: a client can tell a stale quote."""
    tick = prices_pb2.PriceTick(
        asset="SOL_USDC",
        bid=dec(236_100_000, 6),
        ask=dec(236_140_000, 6),
        ts_us=1_700_000_000_000_000,
    )
    recorder.replies["GetPrice"] = xs.GetPriceResponse(tick=tick)
    response = await client.get("/api/v1/price", params={"asset": "SOL_USDC"})

    assert response.status_code == 200
    assert response.json() == {
        "asset": "SOL_USDC",
        "price": "236140000",
        "decimal": 6,
        "bid": "236100000",
        "ask": "236140000",
        "ts": 1_700_000_000_000,
    }
    assert recorder.calls[-1][1].asset == "SOL_USDC"


async def test_candles(client, recorder) -> None:
    candle = xs.Candle(
        time_ms=1_700_000_040_000,
        open=dec(236_140_000, 6),
        high=dec(236_500_000, 6),
        low=dec(235_000_001, 6),
        close=dec(236_000_000, 6),
    )
    recorder.replies["ListCandles"] = xs.ListCandlesResponse(candles=[candle])
    response = await client.get(
        "/api/v1/candles",
        params={
            "asset": "SOL_USDC",
            "interval": "5m",
            "startTime": 1,
            "endTime": 1_800_000_000_000,
        },
    )

    assert response.status_code == 200
    assert _exact(response) == [
        {
            "time": 1_700_000_040_000,
            "open": Decimal("236.14"),
            "high": Decimal("236.5"),
            "low": Decimal("235.000001"),
            "close": 236,
        }
    ]
    request = recorder.calls[-1][1]
    assert request.interval == xs.CANDLE_INTERVAL_5M
    assert (request.start_time_ms, request.end_time_ms) == (1, 1_800_000_000_000)


async def test_price_unavailable_maps_through_registry(client, recorder) -> None:
    import grpc

    from tests.rest.conftest import FakeError

    recorder.replies["GetPrice"] = FakeError(
        grpc.StatusCode.FAILED_PRECONDITION, "PRICE_UNAVAILABLE", "no price yet for BTC_USDC"
    )
    response = await client.get("/api/v1/price", params={"asset": "BTC_USDC"})
    assert response.status_code == 400
    assert response.json()["code"] == "PRICE_UNAVAILABLE"


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({}, "UNKNOWN_ASSET", "asset is required"),
        ({"asset": "DOGE_USDC"}, "UNKNOWN_ASSET", None),
    ],
)
async def test_a_price_without_a_known_asset_says_which(
    client, recorder, params, code, message
) -> None:
    response = await client.get("/api/v1/price", params=params)
    envelope = response.json()
    assert (response.status_code, envelope["code"], envelope["field"]) == (400, code, "asset")
    if message is not None:
        assert envelope["error"] == message
    assert recorder.calls == []


def _open_trade() -> types_pb2.Trade:
    return types_pb2.Trade(
        trade_id="t-1",
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=dec(1_234_500, 4),
        leverage=15,
        entry_price=dec(235_950_000, 6),
        stop_loss_price=dec(230_000_000, 6),
        status=types_pb2.TRADE_STATUS_OPEN,
        opened_at_ms=1_700_000_000_000,
        unrealized_pnl=dec(-12_3456, 4),
    )


async def test_open_trades(client, recorder, auth_headers) -> None:
    recorder.replies["ListOpenTrades"] = xs.ListOpenTradesResponse(trades=[_open_trade()])
    response = await client.get("/api/v1/trades/open", headers=auth_headers)

    assert response.status_code == 200
    assert _exact(response) == {
        "trades": [
            {
                "tradeId": "t-1",
                "asset": "SOL_USDC",
                "direction": "LONG",
                "margin": Decimal("123.45"),
                "leverage": Decimal("1.5"),
                "entryPrice": Decimal("235.95"),
                "liquidationPrice": None,
                "stopLossPrice": 230,
                "takeProfitPrice": None,
                "unrealizedPnl": Decimal("-12.3456"),
                "openedAt": 1_700_000_000_000,
                "trailingStopDistance": None,  # SPEC 3a: beside stopLossPrice
            }
        ]
    }
    assert recorder.calls[-1][2]["authorization"] == auth_headers["Authorization"]


async def test_closed_trades_page(client, recorder, auth_headers) -> None:
    trade = _open_trade()
    trade.ClearField("unrealized_pnl")
    trade.status = types_pb2.TRADE_STATUS_LIQUIDATED
    trade.exit_price.CopyFrom(dec(220_000_000, 6))
    trade.pnl.CopyFrom(dec(-1_234_500, 4))
    trade.total_return.CopyFrom(dec(0, 4))
    trade.closed_at_ms = 1_700_000_100_000
    recorder.replies["ListClosedTrades"] = xs.ListClosedTradesResponse(
        trades=[trade], next_page_token="page-2"
    )
    response = await client.get(
        "/api/v1/trades/closed", params={"limit": 1, "cursor": "page-1"}, headers=auth_headers
    )

    body = _exact(response)
    assert body["nextCursor"] == "page-2"
    row = body["trades"][0]
    assert row["status"] == "LIQUIDATED"
    assert (row["exitPrice"], row["pnl"], row["closedAt"]) == (
        220,
        Decimal("-123.45"),
        1_700_000_100_000,
    )
    assert "unrealizedPnl" not in row
    assert "orderType" not in row  # a market trade
    request = recorder.calls[-1][1]
    assert (request.limit, request.page_token) == (1, "page-1")


async def test_an_ended_order_in_the_history_shows_its_type_and_price(
    client, recorder, auth_headers
) -> None:
    order = _open_trade()
    order.ClearField("unrealized_pnl")
    order.status = types_pb2.TRADE_STATUS_EXPIRED
    order.order_type = types_pb2.ORDER_TYPE_STOP
    order.order_price.CopyFrom(dec(240_500_000, 6))
    order.closed_at_ms = 1_700_000_100_000
    recorder.replies["ListClosedTrades"] = xs.ListClosedTradesResponse(trades=[order])
    response = await client.get("/api/v1/trades/closed", headers=auth_headers)

    row = _exact(response)["trades"][0]
    assert (row["status"], row["orderType"], row["price"]) == ("EXPIRED", "STOP", Decimal("240.5"))
    assert "reason" not in row and "reasonCode" not in row


async def test_a_rejected_order_in_the_history_says_why_with_its_code(
    client, recorder, auth_headers
) -> None:
    order = _open_trade()
    order.ClearField("unrealized_pnl")
    order.status = types_pb2.TRADE_STATUS_REJECTED
    order.order_type = types_pb2.ORDER_TYPE_LIMIT
    order.reason_code = types_pb2.ERROR_CODE_INVALID_LEVERAGE
    order.reason = "leverage 1000 (100.0x) puts the liquidation price 229.5 at or beyond the bid"
    recorder.replies["ListClosedTrades"] = xs.ListClosedTradesResponse(trades=[order])
    response = await client.get("/api/v1/trades/closed", headers=auth_headers)

    row = _exact(response)["trades"][0]
    assert (row["status"], row["reasonCode"]) == ("REJECTED", "INVALID_LEVERAGE")
    assert row["reason"] == order.reason


async def test_orders_page(client, recorder, auth_headers) -> None:
    order = xs.Order(
        order_id="o-1",
        command="CREATE_TRADE",
        status="error",
        error_code=types_pb2.ERROR_CODE_INSUFFICIENT_BALANCE,
        message="insufficient balance",
        latency_us=1234,
        created_at_ms=1_700_000_000_000,
    )
    recorder.replies["ListOrders"] = xs.ListOrdersResponse(orders=[order])
    response = await client.get("/api/v1/orders", headers=auth_headers)

    assert _exact(response) == {
        "orders": [
            {
                "orderId": "o-1",
                "command": "CREATE_TRADE",
                "status": "error",
                "errorCode": "INSUFFICIENT_BALANCE",
                "message": "insufficient balance",
                "latencyMs": Decimal("1.234"),
                "createdAt": 1_700_000_000_000,
                "tradeId": None,
            }
        ],
        "nextCursor": None,
    }
    assert recorder.calls[-1][1].limit == 50


async def test_account(client, recorder, auth_headers) -> None:
    summary = responses_pb2.AccountSummary(
        email="a@b.co",
        balance=dec(48_000_000, 4),
        equity=dec(49_000_000, 4),
        used_margin=dec(2_000_000, 4),
        free_margin=dec(47_000_000, 4),
        margin_level=dec(245_000, 4),
        unrealized_pnl=dec(1_000_000, 4),
        reserved_margin=dec(1_250_000, 4),
    )
    recorder.replies["GetAccount"] = xs.GetAccountResponse(order_id="o", account=summary)
    response = await client.get("/api/v1/account", headers=auth_headers)

    assert _exact(response) == {
        "balance": 4800,
        "equity": 4900,
        "usedMargin": 200,
        "reservedMargin": 125,
        "freeMargin": 4700,
        "marginLevel": Decimal("24.5"),
        "unrealizedPnl": 100,
    }


async def test_reads_need_auth(client, recorder) -> None:
    for path in (
        "/api/v1/trades/open",
        "/api/v1/trades/closed",
        "/api/v1/orders",
        "/api/v1/account",
    ):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.json()["code"] == "UNAUTHENTICATED"
    assert recorder.calls == []


async def test_an_inverted_candle_range_is_the_grpc_servers_to_refuse(client, recorder) -> None:
    """The facade forwards it (tests/e2e/test_rest_flow.py: the server's 400 names startTime)."""
    recorder.replies["ListCandles"] = xs.ListCandlesResponse()
    response = await client.get(
        "/api/v1/candles", params={"asset": "SOL_USDC", "startTime": 5, "endTime": 4}
    )
    assert response.status_code == 200
    [(name, request, _)] = recorder.calls
    assert (name, request.start_time_ms, request.end_time_ms) == ("ListCandles", 5, 4)


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/price?asset=SOL_USDC&asset=BTC_USDC",
        "/api/v1/candles?asset=SOL_USDC&interval=1m&interval=1h",
        "/api/v1/trades/closed?limit=5&limit=200",
        "/api/v1/user/signin/post?token=a&token=b",
    ],
)
async def test_a_query_parameter_given_twice_is_refused(
    client, recorder, auth_headers, query
) -> None:
    """As a JSON body's repeated key is: not one of the two picked for the client."""
    response = await client.get(query, headers=auth_headers)
    assert response.status_code == 400, response.text
    envelope = response.json()
    key = query.rsplit("&", 1)[1].split("=")[0]
    assert (envelope["code"], envelope["field"]) == ("INVALID_ARGUMENT", key)
    assert envelope["error"] == f"{key} appears more than once"
    assert recorder.calls == []
