"""POST /api/v1/engine's toolset commands (SPEC 3a) and GET /api/v1/trades/pending, against the
fake gRPC server: each body becomes the gRPC request it should, each answer the documented
shape, and each bad field a 400 naming it (in its JSON spelling) with no gRPC call."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import grpc
import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import responses_pb2, types_pb2

from tests.rest.conftest import Recorder, dec

TRADE_ID = "9b2f4c1e-7a3d-4e5f-8c6b-1d2e3f4a5b6c"


def _exact(response: Any) -> dict[str, Any]:
    return json.loads(response.content, parse_float=Decimal)


def _pending(**extra: Any) -> types_pb2.Trade:
    trade = types_pb2.Trade(
        trade_id=TRADE_ID,
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=dec(100_000, 4),
        leverage=100,
        entry_price=dec(230_100_000, 6),
        liquidation_price=dec(207_090_000, 6),
        status=types_pb2.TRADE_STATUS_PENDING,
        order_type=types_pb2.ORDER_TYPE_LIMIT,
        order_price=dec(230_100_000, 6),
        opened_at_ms=5,
    )
    for field, value in extra.items():
        if isinstance(value, types_pb2.Decimal):
            getattr(trade, field).CopyFrom(value)
        else:
            setattr(trade, field, value)
    return trade


async def test_place_order(client, recorder: Recorder, auth_headers) -> None:
    recorder.replies["PlaceOrder"] = lambda r: xs.PlaceOrderResponse(
        order_id=r.order_id,
        placed=responses_pb2.OrderPlaced(
            email="a@b.co",
            trade=_pending(
                trailing_stop_distance=dec(1_500_000, 6),
                stop_loss_price=dec(228_600_000, 6),
                expires_at_ms=1_900_000_000_000,
            ),
        ),
    )
    body = {
        "command": "PLACE_ORDER",
        "asset": "SOL_USDC",
        "direction": "LONG",
        "orderType": "LIMIT",
        "price": 230.1,
        "margin": 10,
        "leverage": 100,
        "trailingStopDistance": 1.5,
        "expiresAt": 1_900_000_000_000,
    }
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert response.status_code == 200, response.text
    data = _exact(response)["engineResponse"]["data"]
    # No stopLossPrice while pending with a trailing stop, no liquidation price in the answer.
    assert data == {
        "email": "a@b.co",
        "tradeId": TRADE_ID,
        "status": "PENDING",
        "asset": "SOL_USDC",
        "direction": "LONG",
        "orderType": "LIMIT",
        "price": Decimal("230.1"),
        "margin": 10,
        "leverage": 10,
        "trailingStopDistance": Decimal("1.5"),
        "expiresAt": 1_900_000_000_000,
    }
    [(name, request, _)] = recorder.calls
    assert name == "PlaceOrder"
    assert (request.price.units, request.price.scale) == (230_100_000, 6)
    assert (request.margin.units, request.margin.scale) == (100_000, 4)
    assert request.order_type == types_pb2.ORDER_TYPE_LIMIT and request.leverage == 100
    assert request.trailing_stop_distance.units == 1_500_000
    assert request.expires_at_ms == 1_900_000_000_000
    assert not request.HasField("stop_loss_price")


async def test_cancel_order(client, recorder: Recorder, auth_headers) -> None:
    recorder.replies["CancelOrder"] = lambda r: xs.CancelOrderResponse(
        order_id=r.order_id,
        cancelled=responses_pb2.OrderCancelled(
            email="a@b.co",
            trade=_pending(status=types_pb2.TRADE_STATUS_CANCELLED),
            margin_returned=dec(100_000, 4),
        ),
    )
    body = {"command": "CANCEL_ORDER", "tradeId": TRADE_ID.upper()}
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert _exact(response)["engineResponse"]["data"] == {
        "email": "a@b.co",
        "tradeId": TRADE_ID,
        "status": "CANCELLED",
        "marginReturned": 10,
    }
    assert recorder.calls[0][1].trade_id == TRADE_ID


async def test_modify_sets_removes_and_keeps(client, recorder: Recorder, auth_headers) -> None:
    recorder.replies["ModifyTrade"] = lambda r: xs.ModifyTradeResponse(
        order_id=r.order_id,
        modified=responses_pb2.TradeModified(
            email="a@b.co", trade=_pending(take_profit_price=dec(250_000_000, 6))
        ),
    )
    body = {
        "command": "MODIFY_TRADE",
        "tradeId": TRADE_ID,
        "takeProfitPrice": 250,
        "stopLossPrice": None,
        "price": 230.05,
        "expiresAt": None,
    }
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert response.status_code == 200, response.text
    assert _exact(response)["engineResponse"]["data"] == {
        "email": "a@b.co",
        "tradeId": TRADE_ID,
        "status": "PENDING",
        "price": Decimal("230.1"),
        "liquidationPrice": Decimal("207.09"),
        "takeProfitPrice": 250,
    }
    request = recorder.calls[0][1]
    assert (request.take_profit_price.value.units, request.take_profit_price.value.scale) == (
        250_000_000,
        6,
    )
    assert request.HasField("stop_loss_price") and not request.stop_loss_price.HasField("value")
    assert not request.HasField("trailing_stop_distance")
    assert (request.price.units, request.price.scale) == (230_050_000, 6)
    assert request.HasField("expires_at") and not request.expires_at.HasField("expires_at_ms")


async def test_partial_close_adds_remaining_margin(
    client, recorder: Recorder, auth_headers
) -> None:
    def closed(request: xs.CloseTradeRequest) -> xs.CloseTradeResponse:
        trade = _pending(status=types_pb2.TRADE_STATUS_CLOSED, partial=True)
        trade.exit_price.CopyFrom(dec(231_000_000, 6))
        trade.pnl.CopyFrom(dec(9_779, 4))
        trade.total_return.CopyFrom(dec(34_779, 4))
        return xs.CloseTradeResponse(
            order_id=request.order_id,
            closed=responses_pb2.TradeClosed(
                email="a@b.co",
                trade=trade,
                margin_returned=dec(25_000, 4),
                remaining_margin=dec(75_000, 4),
            ),
        )

    recorder.replies["CloseTrade"] = closed
    body = {"command": "CLOSE_TRADE", "tradeId": TRADE_ID, "margin": 2.5}
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    data = _exact(response)["engineResponse"]["data"]
    assert data["remainingMargin"] == Decimal("7.5") and data["marginReturned"] == Decimal("2.5")
    assert (recorder.calls[0][1].margin.units, recorder.calls[0][1].margin.scale) == (25_000, 4)


async def test_pending_list(client, recorder: Recorder, auth_headers) -> None:
    recorder.replies["ListPendingTrades"] = xs.ListPendingTradesResponse(
        trades=[_pending(expires_at_ms=77)]
    )
    response = await client.get("/api/v1/trades/pending", headers=auth_headers)
    [row] = _exact(response)["trades"]
    assert row["status"] == "PENDING" and row["orderType"] == "LIMIT"
    assert row["price"] == Decimal("230.1") and row["expiresAt"] == 77
    assert row["trailingStopDistance"] is None


ORDER = '{"command":"PLACE_ORDER","asset":"SOL_USDC","direction":"LONG","margin":10,'


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (ORDER + '"price":1}', "INVALID_ARGUMENT", "orderType"),
        (ORDER + '"orderType":"limit","price":1}', "INVALID_ARGUMENT", "orderType"),
        (ORDER + '"orderType":["LIMIT"],"price":1}', "INVALID_ARGUMENT", "orderType"),
        (ORDER + '"orderType":1,"price":1}', "INVALID_ARGUMENT", "orderType"),
        (ORDER + '"orderType":"LIMIT"}', "INVALID_PRICE", "price"),
        (ORDER + '"orderType":"LIMIT","price":1.0000001}', "INVALID_PRICE", "price"),
        (ORDER + '"orderType":"LIMIT","price":"1"}', "INVALID_PRICE", "price"),
        (
            ORDER + '"orderType":"STOP","price":1,"trailingStopDistance":0}',
            "INVALID_TRAILING_STOP",
            "trailingStopDistance",
        ),
        (
            ORDER + '"orderType":"STOP","price":1,"trailingStopDistance":1,"stopLossPrice":0.5}',
            "INVALID_TRAILING_STOP",
            "trailingStopDistance",
        ),
        (ORDER + '"orderType":"STOP","price":1,"expiresAt":1.5}', "INVALID_EXPIRY", "expiresAt"),
        (ORDER + '"orderType":"STOP","price":1,"expiresAt":-1}', "INVALID_EXPIRY", "expiresAt"),
        (ORDER + '"orderType":"STOP","price":1,"expiresAt":"soon"}', "INVALID_EXPIRY", "expiresAt"),
        (ORDER + '"orderType":"STOP","price":1,"bogus":1}', "INVALID_ARGUMENT", "bogus"),
        ('{"command":"CANCEL_ORDER"}', "INVALID_ARGUMENT", "tradeId"),
        ('{"command":"CANCEL_ORDER","tradeId":"x"}', "INVALID_ARGUMENT", "tradeId"),
        (
            '{"command":"CANCEL_ORDER","tradeId":"' + TRADE_ID + '","margin":1}',
            "INVALID_ARGUMENT",
            "margin",
        ),
        (
            '{"command":"CLOSE_TRADE","tradeId":"' + TRADE_ID + '","margin":0}',
            "INVALID_MARGIN",
            "margin",
        ),
        (
            '{"command":"CLOSE_TRADE","tradeId":"' + TRADE_ID + '","margin":1.00001}',
            "INVALID_MARGIN",
            "margin",
        ),
        (
            '{"command":"MODIFY_TRADE","tradeId":"' + TRADE_ID + '","price":null}',
            "INVALID_PRICE",
            "price",
        ),
        (
            '{"command":"MODIFY_TRADE","tradeId":"' + TRADE_ID + '","stopLossPrice":-1}',
            "INVALID_PRICE",
            "stopLossPrice",
        ),
        (
            '{"command":"MODIFY_TRADE","tradeId":"' + TRADE_ID + '","takeProfitPrice":1e-7}',
            "INVALID_PRICE",
            "takeProfitPrice",
        ),
        (
            '{"command":"MODIFY_TRADE","tradeId":"'
            + TRADE_ID
            + '","stopLossPrice":1,"trailingStopDistance":1}',
            "INVALID_TRAILING_STOP",
            "trailingStopDistance",
        ),
        (
            '{"command":"MODIFY_TRADE","tradeId":"' + TRADE_ID + '","expiresAt":0}',
            "INVALID_EXPIRY",
            "expiresAt",
        ),
        (
            '{"command":"MODIFY_TRADE","tradeId":"' + TRADE_ID + '","asset":"SOL_USDC"}',
            "INVALID_ARGUMENT",
            "asset",
        ),
        (
            '{"command":"CREATE_TRADE","asset":"BTC_USDC","direction":"LONG","margin":1,'
            '"trailingStopDistance":0.00001}',
            "INVALID_TRAILING_STOP",
            "trailingStopDistance",
        ),
    ],
)
async def test_bad_toolset_bodies_reach_nothing(
    client, recorder: Recorder, auth_headers, body: str, code: str, field: str
) -> None:
    response = await client.post(
        "/api/v1/engine",
        content=body.encode(),
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert (envelope["code"], envelope["field"]) == (code, field), envelope
    assert envelope["error"].startswith(field)
    assert recorder.calls == []


async def test_a_grpc_rejection_names_the_body_field(
    client, recorder: Recorder, auth_headers
) -> None:
    """The gRPC server checks MODIFY_TRADE's prices at the trade's asset: its error names the
    proto field, which the envelope gives back in the body's spelling."""
    from tests.rest.conftest import FakeError

    recorder.replies["ModifyTrade"] = FakeError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PRICE",
        "stop_loss_price allows at most 4 decimals for BTC_USDC",
        extra=(("x-error-field", "stop_loss_price"),),
    )
    body = {"command": "MODIFY_TRADE", "tradeId": TRADE_ID, "stopLossPrice": 1.00001}
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["field"] == "stopLossPrice"
    assert envelope["error"] == "stopLossPrice allows at most 4 decimals for BTC_USDC"


@pytest.mark.parametrize(
    ("command", "code", "field", "message", "rest_field", "rest_message"),
    [
        (
            "ModifyTrade",
            "INVALID_TRAILING_STOP",
            "trailing_stop_distance",
            "trailing_stop_distance cannot be set with stop_loss_price",
            "trailingStopDistance",
            "trailingStopDistance cannot be set with stopLossPrice",
        ),
        (
            "ListClosedTrades",
            "INVALID_ARGUMENT",
            "page_token",
            "page_token is not valid",
            "cursor",
            "cursor is not valid",
        ),
        (
            "ModifyTrade",
            "UNAUTHENTICATED",
            "authorization",
            "a valid session token is required",
            "authToken",
            "a valid session token is required",
        ),
    ],
)
async def test_every_field_a_grpc_rejection_names_is_spelled_as_rest_spells_it(
    client,
    recorder: Recorder,
    auth_headers,
    command: str,
    code: str,
    field: str,
    message: str,
    rest_field: str,
    rest_message: str,
) -> None:
    from tests.rest.conftest import FakeError

    recorder.replies[command] = FakeError(
        grpc.StatusCode.INVALID_ARGUMENT, code, message, extra=(("x-error-field", field),)
    )
    if command == "ModifyTrade":
        body = {"command": "MODIFY_TRADE", "tradeId": TRADE_ID, "takeProfitPrice": None}
        response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    else:
        response = await client.get(
            "/api/v1/trades/closed", params={"cursor": "zzzz"}, headers=auth_headers
        )
    envelope = response.json()
    assert (envelope["code"], envelope["field"]) == (code, rest_field), envelope
    assert envelope["error"] == rest_message
    assert recorder.names() == [command]


async def test_a_filled_orders_open_row_says_it_came_from_an_order(
    client, recorder: Recorder, auth_headers
) -> None:
    filled = _pending(status=types_pb2.TRADE_STATUS_OPEN, unrealized_pnl=dec(-12, 4))
    market = _pending(status=types_pb2.TRADE_STATUS_OPEN, order_type=0)
    market.ClearField("order_price")
    recorder.replies["ListOpenTrades"] = xs.ListOpenTradesResponse(trades=[filled, market])
    response = await client.get("/api/v1/trades/open", headers=auth_headers)
    from_order, from_market = _exact(response)["trades"]
    assert (from_order["orderType"], from_order["price"]) == ("LIMIT", Decimal("230.1"))
    assert "orderType" not in from_market and "price" not in from_market


async def test_create_trades_answer_shows_its_trailing_stop(
    client, recorder: Recorder, auth_headers
) -> None:
    def opened(request: xs.CreateTradeRequest) -> xs.CreateTradeResponse:
        trade = _pending(
            status=types_pb2.TRADE_STATUS_OPEN, order_type=0,
            stop_loss_price=dec(228_600_000, 6), trailing_stop_distance=dec(15, 1),
        )  # fmt: skip
        return xs.CreateTradeResponse(
            order_id=request.order_id,
            opened=responses_pb2.TradeOpened(email="a@b.co", trade=trade),
        )

    recorder.replies["CreateTrade"] = opened
    body = {"command": "CREATE_TRADE", "asset": "SOL_USDC", "direction": "LONG", "margin": 10,
            "trailingStopDistance": 1.5}  # fmt: skip
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    data = _exact(response)["engineResponse"]["data"]
    assert data["stopLossPrice"] == Decimal("228.6")
    assert data["trailingStopDistance"] == Decimal("1.5")


async def test_a_modify_that_changes_nothing_reaches_nothing(
    client, recorder: Recorder, auth_headers
) -> None:
    body = {"command": "MODIFY_TRADE", "tradeId": TRADE_ID}
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["code"] == "INVALID_ARGUMENT" and "field" not in envelope, envelope
    assert envelope["error"].startswith("nothing to change")
    assert recorder.calls == []
