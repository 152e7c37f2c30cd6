"""POST /api/v1/engine: the seed's envelope and data shapes, and gRPC errors mapped to HTTP."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import grpc
import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import responses_pb2, types_pb2

from tests.rest.conftest import FakeError, Recorder, dec

TRADE_ID = "9b2f4c1e-7a3d-4e5f-8c6b-1d2e3f4a5b6c"


def _exact(response) -> dict:  # type: ignore[no-untyped-def]
    """Parse numbers as Decimal, so the test sees exactly what was written."""
    return json.loads(response.content, parse_float=Decimal)


def _short_100x(request: xs.CreateTradeRequest) -> xs.CreateTradeResponse:
    trade = types_pb2.Trade(
        trade_id="t-1",
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_SHORT,
        margin=dec(1_000_000, 4),
        leverage=1000,
        entry_price=dec(235_950_000, 6),
        liquidation_price=dec(238_309_500, 6),
        status=types_pb2.TRADE_STATUS_OPEN,
    )
    return xs.CreateTradeResponse(
        order_id=request.order_id, opened=responses_pb2.TradeOpened(email="a@b.co", trade=trade)
    )


async def test_create_trade_success_envelope(client, recorder: Recorder, auth_headers) -> None:
    recorder.replies["CreateTrade"] = _short_100x
    body = {
        "command": "CREATE_TRADE",
        "asset": "SOL_USDC",
        "direction": "SHORT",
        "margin": 100,
        "leverage": 1000,
    }
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)

    assert response.status_code == 200
    envelope = _exact(response)
    assert envelope["success"] is True
    assert uuid.UUID(envelope["orderId"]).version == 4
    assert isinstance(envelope["latency"], int | float | Decimal)
    assert envelope["engineResponse"]["status"] == "success"
    assert envelope["engineResponse"]["data"] == {
        "email": "a@b.co",
        "tradeId": "t-1",
        "entryPrice": Decimal("235.95"),
        "liquidationPrice": Decimal("238.3095"),
        "margin": 100,
        "leverage": 100,
    }
    # Written as plain JSON numbers, not strings and not float noise.
    assert b'"liquidationPrice":238.3095' in response.content
    assert b'"leverage":100' in response.content

    name, request, metadata = recorder.calls[-1]
    assert name == "CreateTrade"
    assert request.order_id == envelope["orderId"]
    assert request.margin == dec(1_000_000, 4)
    assert request.leverage == 1000
    assert request.direction == types_pb2.DIRECTION_SHORT
    assert not request.HasField("stop_loss_price")
    assert metadata["authorization"] == auth_headers["Authorization"]


async def test_create_trade_passes_levels_and_client_order_id(client, recorder, auth_headers):
    recorder.replies["CreateTrade"] = _short_100x
    order_id = str(uuid.uuid4())
    body = (
        '{"command":"CREATE_TRADE","asset":"ETH_USDC","direction":"LONG","margin":0.1,'
        '"stopLossPrice":3000.123456,"takeProfitPrice":4000,"orderId":"' + order_id + '"}'
    )
    response = await client.post(
        "/api/v1/engine", content=body, headers={**auth_headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json()["orderId"] == order_id
    request = recorder.calls[-1][1]
    assert request.order_id == order_id
    assert request.margin == dec(1000, 4)  # 0.1 USD, exactly
    assert request.leverage == 10  # the default
    assert request.stop_loss_price == dec(3_000_123_456, 6)
    assert request.take_profit_price == dec(4_000_000_000, 6)


async def test_cookie_auth_is_forwarded(client, recorder, auth_headers) -> None:
    recorder.replies["GetUsdBalance"] = xs.GetUsdBalanceResponse(
        order_id="o-9",
        balance=responses_pb2.UsdBalance(email="a@b.co", usd_balance=dec(50_000_000, 4)),
    )
    token = auth_headers["Authorization"].removeprefix("Bearer ")
    client.cookies.set("authToken", token)
    response = await client.post("/api/v1/engine", json={"command": "GET_USD_BALANCE"})

    assert response.status_code == 200
    envelope = response.json()
    assert envelope["engineResponse"]["data"] == {"email": "a@b.co", "usdBalance": 5000}
    assert recorder.calls[-1][2]["authorization"] == f"Bearer {token}"


@pytest.mark.parametrize("command", ["GET_USD_BALANCE", "GET_BALANCE"])
async def test_a_read_echoes_the_orderid_it_was_given(client, recorder, auth_headers, command):
    """A read changes nothing and is not remembered: its envelope carries the request's
    orderId (SPEC: any command may carry one), never the engine round trip's own id, whether
    it is answered or refused."""
    recorder.replies["GetUsdBalance"] = xs.GetUsdBalanceResponse(
        order_id="the-engines-own",
        balance=responses_pb2.UsdBalance(email="a@b.co", usd_balance=dec(50_000_000, 4)),
    )
    recorder.replies["GetBalance"] = xs.GetBalanceResponse(
        order_id="the-engines-own", balances=responses_pb2.Balances(email="a@b.co")
    )
    mine = str(uuid.uuid4())
    given = await client.post(
        "/api/v1/engine", json={"command": command, "orderId": mine}, headers=auth_headers
    )
    fresh = await client.post("/api/v1/engine", json={"command": command}, headers=auth_headers)
    recorder.replies["GetUsdBalance"] = recorder.replies["GetBalance"] = FakeError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "ERROR_CODE_RATE_LIMITED", "slow down", "the-engines"
    )
    refused = await client.post(
        "/api/v1/engine", json={"command": command, "orderId": mine}, headers=auth_headers
    )

    assert given.status_code == 200 and given.json()["orderId"] == mine
    assert fresh.status_code == 200 and uuid.UUID(fresh.json()["orderId"]).version == 4
    assert refused.status_code == 429 and refused.json()["orderId"] == mine


async def test_close_trade_data(client, recorder, auth_headers) -> None:
    trade = types_pb2.Trade(
        trade_id=TRADE_ID,
        asset="BTC_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=dec(1_000_000, 4),
        leverage=50,
        entry_price=dec(1_000_000_000, 4),
        exit_price=dec(1_010_000_000, 4),
        pnl=dec(50_000, 4),
        total_return=dec(1_050_000, 4),
        status=types_pb2.TRADE_STATUS_CLOSED,
    )
    recorder.replies["CloseTrade"] = lambda r: xs.CloseTradeResponse(
        order_id=r.order_id,
        closed=responses_pb2.TradeClosed(
            email="a@b.co", trade=trade, margin_returned=dec(1_000_000, 4)
        ),
    )
    response = await client.post(
        "/api/v1/engine",
        json={"command": "CLOSE_TRADE", "tradeId": TRADE_ID.upper()},
        headers=auth_headers,
    )

    assert response.status_code == 200
    assert _exact(response)["engineResponse"]["data"] == {
        "email": "a@b.co",
        "tradeId": TRADE_ID,
        "asset": "BTC_USDC",
        "marginReturned": 100,
        "pnl": 5,
        "totalReturn": 105,
        "closePrice": 101000,
        "remainingMargin": 0,  # SPEC 3a: 0 after a full close
    }
    assert recorder.calls[-1][1].trade_id == TRADE_ID  # canonical lower case


async def test_account_commands(client, recorder, auth_headers) -> None:
    recorder.replies["CreateAccount"] = lambda r: xs.CreateAccountResponse(
        order_id=r.order_id,
        account=responses_pb2.AccountCreated(
            email="a@b.co", initial_usd_balance=dec(50_000_000, 4), assets=["USD"]
        ),
    )
    balances = responses_pb2.Balances(email="a@b.co")
    balances.balances["USD"].CopyFrom(dec(49_876_543, 4))
    recorder.replies["GetBalance"] = xs.GetBalanceResponse(order_id="o-2", balances=balances)

    created = await client.post(
        "/api/v1/engine", json={"command": "CREATE_ACCOUNT"}, headers=auth_headers
    )
    balance = await client.post(
        "/api/v1/engine", json={"command": "GET_BALANCE"}, headers=auth_headers
    )

    assert created.json()["engineResponse"]["data"] == {
        "email": "a@b.co",
        "initialUsdBalance": 5000,
        "assets": ["USD"],
    }
    assert _exact(balance)["engineResponse"]["data"] == {
        "email": "a@b.co",
        "balances": {"USD": Decimal("4987.6543")},
    }


@pytest.mark.parametrize(
    ("error", "http_status", "code"),
    [
        (
            FakeError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "ERROR_CODE_INSUFFICIENT_BALANCE",
                "insufficient balance: 5000 available",
            ),
            400,
            "INSUFFICIENT_BALANCE",
        ),
        (
            FakeError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_STOP_LOSS", "stop loss above bid"),
            400,
            "INVALID_STOP_LOSS",
        ),
        (
            FakeError(grpc.StatusCode.UNAUTHENTICATED, "ERROR_CODE_UNAUTHENTICATED", "revoked"),
            401,
            "UNAUTHENTICATED",
        ),
        (
            FakeError(grpc.StatusCode.NOT_FOUND, "ERROR_CODE_TRADE_NOT_FOUND", "trade not found"),
            404,
            "TRADE_NOT_FOUND",
        ),
        (
            FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED, "ERROR_CODE_RATE_LIMITED", "slow down"),
            429,
            "RATE_LIMITED",
        ),
        (
            FakeError(grpc.StatusCode.UNAVAILABLE, "ERROR_CODE_ENGINE_UNAVAILABLE", "redis down"),
            503,
            "ENGINE_UNAVAILABLE",
        ),
        (
            FakeError(grpc.StatusCode.DEADLINE_EXCEEDED, "ERROR_CODE_ENGINE_TIMEOUT", "late"),
            504,
            "ENGINE_TIMEOUT",
        ),
        # Without x-error-code the status alone decides.
        (FakeError(grpc.StatusCode.UNAVAILABLE), 503, "ENGINE_UNAVAILABLE"),
        (FakeError(grpc.StatusCode.DEADLINE_EXCEEDED), 504, "ENGINE_TIMEOUT"),
        (FakeError(grpc.StatusCode.INTERNAL, details="Traceback: secret"), 500, "INTERNAL"),
    ],
)
async def test_grpc_errors_become_envelopes(
    client, recorder, auth_headers, error, http_status, code
) -> None:
    error.order_id = "engine-order-7"
    recorder.replies["CloseTrade"] = error
    response = await client.post(
        "/api/v1/engine", json={"command": "CLOSE_TRADE", "tradeId": TRADE_ID}, headers=auth_headers
    )

    assert response.status_code == http_status
    envelope = response.json()
    assert envelope["success"] is False
    assert envelope["code"] == code
    assert envelope["orderId"] == "engine-order-7"
    assert envelope["engineResponse"] == {
        "status": "error",
        "data": None,
        "message": envelope["error"],
    }
    assert isinstance(envelope["latency"], int | float)
    if error.code:
        assert envelope["error"] == error.details  # the server's own words
    assert "Traceback" not in envelope["error"]


async def test_unreachable_grpc_server_is_503(settings, auth_headers) -> None:
    import httpx

    from gateway_svc.rest import create_app

    app = create_app(settings, lambda: grpc.aio.insecure_channel("127.0.0.1:1"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/v1/engine", json={"command": "GET_BALANCE"}, headers=auth_headers
            )
    assert response.status_code == 503
    assert response.json()["code"] == "ENGINE_UNAVAILABLE"


async def test_engine_requests_are_labelled_by_their_route_and_other_methods_get_405(
    client, recorder, auth_headers
) -> None:
    recorder.replies["GetBalance"] = xs.GetBalanceResponse()
    ok = await client.post("/api/v1/engine", json={"command": "GET_BALANCE"}, headers=auth_headers)
    assert ok.status_code == 200
    assert (await client.post("/api/v1/engine", json={})).status_code == 401
    wrong = await client.put("/api/v1/engine", json={"command": "GET_BALANCE"})
    assert wrong.status_code == 405 and wrong.json()["success"] is False
    metrics = (await client.get("/metrics")).text
    for status in ("200", "401"):
        assert (
            f'http_requests_total{{method="POST",route="/api/v1/engine",status="{status}"}} 1.0'
            in metrics
        )
