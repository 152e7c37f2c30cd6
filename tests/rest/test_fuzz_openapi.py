"""Schemathesis against the facade's own OpenAPI document, every operation, every response.

The facade is the in-process ASGI app, pointed at a real grpc.aio server on 127.0.0.1 that runs
the fake servicers of `conftest.py`. For each documented operation the fuzzer sends schema-valid
and schema-invalid requests (with a session token the facade accepts, so the authenticated
handlers are reached, except where the fuzzer deliberately drops the credentials) and checks:

- no 5xx at all (500 is *documented* as the envelope of an internal error, so the status code
  check alone would not catch one; `not_a_server_error` does);
- the status code is one the operation documents;
- the Content-Type is the documented one;
- the body validates against the documented schema of that status code;
- documented response headers, should any be added later.

Two additions to what schemathesis generates and checks: about half the JSON bodies get a lone
UTF-16 surrogate in a key or a string value (see `map_body`), and after each operation's
cases `fuzz_app` checks that they reached every RPC behind the operation, so that a fuzz which
stopped at the facade's auth or validation cannot pass by testing nothing.

Bounded and repeatable: `MAX_EXAMPLES` generated cases per operation, 25 (`ENGINE_EXAMPLES`,
100, for POST /api/v1/engine), or 500 (2000) with EXCHANGE_TEST_LONG=1, plus schemathesis' own
deterministic explicit-example and coverage cases; Hypothesis derandomized and with no example
database; fakes whose answers depend only on the request or on the call count. Every run sends
the same requests and gets the same answers.

Not fuzzed: `GET /api/v1/ws`. FastAPI leaves WebSocket routes out of the OpenAPI document (an
HTTP GET there can only fail the upgrade), and its protocol is messages on an open socket,
which OpenAPI cannot describe; tests/rest/test_ws.py covers it. It is excluded by path below
in case a later version of the document lists it.

Threads: schemathesis calls an ASGI app from a synchronous test, on an event loop of its own
(a blocking portal thread), where the app's lifespan opens its gRPC channel. pytest-asyncio's
loop, where conftest's `grpc_port` fixture serves, is not running during a synchronous test, so
the fake gRPC server here gets a loop and a thread of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import hypothesis
import pytest
import schemathesis
from exchange.v1 import (
    auth_service_pb2,
    auth_service_pb2_grpc,
    exchange_service_pb2_grpc,
    prices_pb2,
    responses_pb2,
    types_pb2,
)
from exchange.v1 import exchange_service_pb2 as xs
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from hypothesis import HealthCheck
from schemathesis.python import asgi as schemathesis_asgi

from gateway_svc.rest import create_app
from mesh.assets import ASSET_DECIMALS, USD_SCALE
from mesh.config import Settings, load_settings
from tests.rest.conftest import FakeAuth, FakeError, FakeExchange, Recorder, dec, session_token

LONG_RUN = os.environ.get("EXCHANGE_TEST_LONG") == "1"
# Generated (fuzzing-phase) cases per operation; the explicit-example and coverage phases add a
# fixed, deterministic set on top.
MAX_EXAMPLES = 500 if LONG_RUN else 25
# POST /api/v1/engine is eight commands in one body, PLACE_ORDER with eleven fields: at 25
# cases it got one schema-valid CREATE_TRADE through to the engine.
ENGINE_EXAMPLES = 8 * MAX_EXAMPLES

# Explicit, so no schemathesis.toml found in the working directory changes the run.
CONFIG: dict[str, Any] = {
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "operations": [
        {"include-name": "POST /api/v1/engine", "generation": {"max-examples": ENGINE_EXAMPLES}},
    ],
}

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]

# The RPCs behind each operation. The cases of an operation must reach each at least once, or
# they never got past the facade's authentication or validation and proved little.
OPERATION_RPCS: dict[str, frozenset[str]] = {
    "GET /api/v1/supportedAssets": frozenset(),  # answered by the facade itself
    "GET /api/v1/price": frozenset({"GetPrice"}),
    "GET /api/v1/candles": frozenset({"ListCandles"}),
    "POST /api/v1/user/signup": frozenset({"RequestSignInLink"}),
    "POST /api/v1/user/signin": frozenset({"RequestSignInLink"}),
    "GET /api/v1/user/signin/post": frozenset({"CompleteSignIn"}),
    "POST /api/v1/user/logout": frozenset({"SignOut"}),
    "POST /api/v1/user/logout/all": frozenset({"SignOutEverywhere"}),
    "POST /api/v1/engine": frozenset(
        {
            "CreateAccount",
            "GetUsdBalance",
            "GetBalance",
            "CreateTrade",
            "CloseTrade",
            "PlaceOrder",
            "CancelOrder",
            "ModifyTrade",
        }
    ),
    "GET /api/v1/trades/open": frozenset({"ListOpenTrades"}),
    "GET /api/v1/trades/pending": frozenset({"ListPendingTrades"}),
    "GET /api/v1/trades/closed": frozenset({"ListClosedTrades"}),
    "GET /api/v1/orders": frozenset({"ListOrders"}),
    "GET /api/v1/account": frozenset({"GetAccount"}),
    "GET /healthz": frozenset(),  # the gRPC health service, not a recorded fake
    "GET /metrics": frozenset(),
}

Outcome = Any  # a reply message, or a FakeError to abort the call with


# --- the fake servicers' answers -------------------------------------------------------------
#
# Each answer is a function of the request (plus a call counter where the request is empty), so
# a run is repeatable, and it alternates between full replies, sparse ones (optional fields
# unset, empty lists) and the business errors the facade must map to documented statuses.


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def _trade(n: int, status: int = types_pb2.TRADE_STATUS_OPEN) -> types_pb2.Trade:
    """Trade n: with every optional level when n is even, with none when it is odd."""
    asset = ("SOL_USDC", "ETH_USDC", "BTC_USDC")[n % 3]
    scale = ASSET_DECIMALS[asset]
    full = n % 2 == 0
    trade = types_pb2.Trade(
        trade_id=f"t-{n}",
        asset=asset,
        direction=types_pb2.DIRECTION_LONG if full else types_pb2.DIRECTION_SHORT,
        margin=dec(1_000_000 + n, USD_SCALE),
        leverage=10 + 7 * n,
        entry_price=dec(235_950_000 + n, scale),
        status=status,
        opened_at_ms=1_700_000_000_000 + n,
    )
    if full:
        trade.liquidation_price.CopyFrom(dec(212_355_000, scale))
        trade.stop_loss_price.CopyFrom(dec(220_000_000, scale))
        trade.take_profit_price.CopyFrom(dec(250_000_000, scale))
        trade.unrealized_pnl.CopyFrom(dec(-123_456, USD_SCALE))
    if status != types_pb2.TRADE_STATUS_OPEN:
        trade.exit_price.CopyFrom(dec(236_000_000, scale))
        trade.closed_at_ms = 1_700_000_100_000 + n
        if full:
            trade.pnl.CopyFrom(dec(21_190, USD_SCALE))
            trade.total_return.CopyFrom(dec(1_021_190, USD_SCALE))
    return trade


def _price(n: int, request: xs.GetPriceRequest) -> Outcome:
    if n % 5 == 4:
        return FakeError(
            grpc.StatusCode.FAILED_PRECONDITION,
            "ERROR_CODE_PRICE_UNAVAILABLE",
            f"no price yet for {request.asset}",
        )
    scale = ASSET_DECIMALS.get(request.asset, 6)
    tick = prices_pb2.PriceTick(
        asset=request.asset,
        bid=dec(236_100_000, scale),
        ask=dec(236_140_000, scale),
        ts_us=1_700_000_000_000_000,
    )
    return xs.GetPriceResponse(tick=tick)


def _candles(request: xs.ListCandlesRequest) -> Outcome:
    count = (request.start_time_ms + request.end_time_ms + request.interval) % 4
    scale = ASSET_DECIMALS.get(request.asset, 6)
    return xs.ListCandlesResponse(
        candles=[
            xs.Candle(
                time_ms=1_700_000_000_000 + 60_000 * i,
                open=dec(236_140_000, scale),
                high=dec(236_500_000 + i, scale),
                low=dec(235_000_001, scale),
                close=dec(236_000_000, scale),
            )
            for i in range(count)
        ]
    )


def _create_account(n: int, request: xs.CreateAccountRequest) -> Outcome:
    if n % 4 == 3:
        return FakeError(
            grpc.StatusCode.ALREADY_EXISTS, "ERROR_CODE_ACCOUNT_EXISTS", "account exists"
        )
    return xs.CreateAccountResponse(
        order_id=request.order_id,
        account=responses_pb2.AccountCreated(
            email="a@b.co", initial_usd_balance=dec(50_000_000, USD_SCALE), assets=["USD"]
        ),
    )


def _usd_balance(n: int, _request: Any) -> Outcome:
    balance = responses_pb2.UsdBalance(email="a@b.co", usd_balance=dec(49_876_543 + n, USD_SCALE))
    return xs.GetUsdBalanceResponse(order_id=str(uuid.UUID(int=n)), balance=balance)


def _balances(n: int, _request: Any) -> Outcome:
    balances = responses_pb2.Balances(email="a@b.co")
    if n % 2:
        balances.balances["USD"].CopyFrom(dec(49_876_543, USD_SCALE))
    return xs.GetBalanceResponse(order_id=str(uuid.UUID(int=n)), balances=balances)


def _account(n: int, _request: Any) -> Outcome:
    summary = responses_pb2.AccountSummary(
        email="a@b.co",
        balance=dec(40_000_000, USD_SCALE),
        equity=dec(41_234_500, USD_SCALE),
        used_margin=dec(10_000_000, USD_SCALE),
        free_margin=dec(31_234_500, USD_SCALE),
        unrealized_pnl=dec(1_234_500, USD_SCALE),
    )
    if n % 2:
        summary.margin_level.CopyFrom(dec(412_345, 4))
    return xs.GetAccountResponse(order_id=str(uuid.UUID(int=n)), account=summary)


def _create_trade(request: xs.CreateTradeRequest) -> Outcome:
    if request.margin.units > 50_000_000 * 10 ** (request.margin.scale - USD_SCALE):
        return FakeError(
            grpc.StatusCode.FAILED_PRECONDITION,
            "ERROR_CODE_INSUFFICIENT_BALANCE",
            "insufficient balance: 5000 available",
        )
    # Not the order id: the facade makes up a random one when the client sends none.
    if request.HasField("stop_loss_price") and request.stop_loss_price.units % 3 == 0:
        return FakeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "ERROR_CODE_INVALID_STOP_LOSS",
            "stop loss on the wrong side of the price",
        )
    trade = types_pb2.Trade(
        trade_id=f"t-{request.margin.units % 1000}",
        asset=request.asset,
        direction=request.direction,
        margin=request.margin,
        leverage=request.leverage,
        entry_price=dec(235_950_000, ASSET_DECIMALS.get(request.asset, 6)),
        status=types_pb2.TRADE_STATUS_OPEN,
    )
    if request.leverage > 10:
        trade.liquidation_price.CopyFrom(dec(212_355_000, 6))
    if request.HasField("stop_loss_price"):
        trade.stop_loss_price.CopyFrom(request.stop_loss_price)
    if request.HasField("take_profit_price"):
        trade.take_profit_price.CopyFrom(request.take_profit_price)
    return xs.CreateTradeResponse(
        order_id=request.order_id, opened=responses_pb2.TradeOpened(email="a@b.co", trade=trade)
    )


def _close_trade(request: xs.CloseTradeRequest) -> Outcome:
    if _crc(request.trade_id) % 3 == 0:
        return FakeError(grpc.StatusCode.NOT_FOUND, "ERROR_CODE_TRADE_NOT_FOUND", "trade not found")
    trade = _trade(_crc(request.trade_id) % 10, types_pb2.TRADE_STATUS_CLOSED)
    trade.trade_id = request.trade_id
    return xs.CloseTradeResponse(
        order_id=request.order_id,
        closed=responses_pb2.TradeClosed(email="a@b.co", trade=trade, margin_returned=trade.margin),
    )


def _pending(n: int, trade_id: str = "") -> types_pb2.Trade:
    trade = _trade(n, types_pb2.TRADE_STATUS_PENDING)
    trade.trade_id = trade_id or trade.trade_id
    trade.order_type = types_pb2.ORDER_TYPE_LIMIT if n % 2 else types_pb2.ORDER_TYPE_STOP
    trade.order_price.CopyFrom(trade.entry_price)
    trade.ClearField("unrealized_pnl")
    if n % 2 == 0:
        trade.expires_at_ms = 1_900_000_000_000 + n
        trade.trailing_stop_distance.CopyFrom(dec(1_000, 4))
    return trade


def _place_order(request: xs.PlaceOrderRequest) -> Outcome:
    if request.margin.units % 4 == 3:
        return FakeError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "ERROR_CODE_TOO_MANY_PENDING_ORDERS",
            "too many pending orders",
        )
    trade = _pending(request.margin.units % 10)
    trade.asset, trade.direction = request.asset, request.direction
    trade.order_price.CopyFrom(request.price)
    trade.order_type = request.order_type
    return xs.PlaceOrderResponse(
        order_id=request.order_id, placed=responses_pb2.OrderPlaced(email="a@b.co", trade=trade)
    )


def _cancel_order(request: xs.CancelOrderRequest) -> Outcome:
    if _crc(request.trade_id) % 3 == 0:
        return FakeError(
            grpc.StatusCode.FAILED_PRECONDITION, "ERROR_CODE_NOT_PENDING", "not a pending order"
        )
    trade = _pending(_crc(request.trade_id) % 10, request.trade_id)
    trade.status = types_pb2.TRADE_STATUS_CANCELLED
    return xs.CancelOrderResponse(
        order_id=request.order_id,
        cancelled=responses_pb2.OrderCancelled(
            email="a@b.co", trade=trade, margin_returned=trade.margin
        ),
    )


def _modify_trade(request: xs.ModifyTradeRequest) -> Outcome:
    n = _crc(request.trade_id) % 10
    if n % 5 == 4:
        return FakeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "ERROR_CODE_INVALID_STOP_LOSS",
            "stop loss on the wrong side of the price",
        )
    trade = _pending(n, request.trade_id) if n % 2 else _trade(n)
    trade.trade_id = request.trade_id
    return xs.ModifyTradeResponse(
        order_id=request.order_id, modified=responses_pb2.TradeModified(email="a@b.co", trade=trade)
    )


def _pending_trades(n: int, _request: Any) -> Outcome:
    return xs.ListPendingTradesResponse(trades=[_pending(n + i) for i in range(n % 3)])


def _open_trades(n: int, _request: Any) -> Outcome:
    return xs.ListOpenTradesResponse(trades=[_trade(n + i) for i in range(n % 3)])


def _closed_trades(request: xs.ListClosedTradesRequest) -> Outcome:
    statuses = (
        types_pb2.TRADE_STATUS_CLOSED,
        types_pb2.TRADE_STATUS_LIQUIDATED,
        types_pb2.TRADE_STATUS_STOP_LOSS,
        types_pb2.TRADE_STATUS_TAKE_PROFIT,
    )
    count = min(request.limit, 4)
    return xs.ListClosedTradesResponse(
        trades=[_trade(i, statuses[i % 4]) for i in range(count)],
        next_page_token="next-page" if request.limit % 2 else "",
    )


def _orders(request: xs.ListOrdersRequest) -> Outcome:
    rows = [
        xs.Order(
            order_id=str(uuid.UUID(int=i + 1)),
            command="CREATE_TRADE",
            status="error" if i % 2 else "success",  # the audit trail's two
            error_code=types_pb2.ERROR_CODE_INSUFFICIENT_BALANCE if i % 2 else 0,
            message="insufficient balance" if i % 2 else "trade opened",
            latency_us=1234 + i,
            created_at_ms=1_700_000_000_000 + i,
            trade_id="" if i % 2 else f"t-{i}",
        )
        for i in range(min(request.limit, 3))
    ]
    return xs.ListOrdersResponse(
        orders=rows, next_page_token="next-page" if request.limit % 2 else ""
    )


def _sign_in_link(n: int, _request: Any) -> Outcome:
    if n % 7 == 6:
        return FakeError(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "ERROR_CODE_RATE_LIMITED", "too many sign-in links"
        )
    return auth_service_pb2.RequestSignInLinkResponse(message="sent")


def _complete_sign_in(request: auth_service_pb2.CompleteSignInRequest) -> Outcome:
    if _crc(request.token) % 3 == 0:
        return FakeError(
            grpc.StatusCode.UNAUTHENTICATED,
            "ERROR_CODE_UNAUTHENTICATED",
            "sign-in link is invalid or expired",
        )
    return auth_service_pb2.CompleteSignInResponse(
        session_token=session_token(),
        user_id="user-1",
        email="a@b.co",
        new_user=True,
        expires_in_s=7 * 24 * 3600,
    )


# A revocation that cannot be stored fails closed with a 503 (tests/rest/test_user_and_ops.py):
# a server error by design, which this fuzz, checking for none, does not provoke.
def _sign_out(n: int, _request: Any) -> Outcome:
    return auth_service_pb2.SignOutResponse()


def _sign_out_everywhere(n: int, _request: Any) -> Outcome:
    return auth_service_pb2.SignOutEverywhereResponse(issued_before_ms=1_700_000_000_000 + n)


def _counted(answer: Callable[[int, Any], Outcome]) -> Callable[[Any], Outcome]:
    """For RPCs whose request carries little or nothing to vary on: vary on the call number
    (the same sequence on every run, as the cases are)."""
    counter = itertools.count()
    return lambda request: answer(next(counter), request)


def fuzz_plan() -> dict[str, Callable[[Any], Outcome]]:
    return {
        "GetPrice": _counted(_price),
        "ListCandles": _candles,
        "CreateAccount": _counted(_create_account),
        "GetUsdBalance": _counted(_usd_balance),
        "GetBalance": _counted(_balances),
        "GetAccount": _counted(_account),
        "CreateTrade": _create_trade,
        "CloseTrade": _close_trade,
        "ListOpenTrades": _counted(_open_trades),
        "PlaceOrder": _place_order,
        "CancelOrder": _cancel_order,
        "ModifyTrade": _modify_trade,
        "ListPendingTrades": _counted(_pending_trades),
        "ListClosedTrades": _closed_trades,
        "ListOrders": _orders,
        "RequestSignInLink": _counted(_sign_in_link),
        "CompleteSignIn": _complete_sign_in,
        "SignOut": _counted(_sign_out),
        "SignOutEverywhere": _counted(_sign_out_everywhere),
    }


class FuzzRecorder(Recorder):
    """conftest's Recorder, answering every call from `plan` instead of from queued replies.

    A planned function may return a FakeError (conftest's only aborts with one queued as is).
    An RPC without a plan raises here, which the client sees as an UNKNOWN status: a test of
    the facade's 5xx handling, not of the fakes, so every RPC has a plan.
    """

    def __init__(self, plan: dict[str, Callable[[Any], Outcome]]) -> None:
        super().__init__()
        self.plan = plan
        self.operations: set[str] = set()  # labels of the operations whose cases ran
        self.failed = False  # a case failed: the test reports it, the RPC check is moot

    async def answer(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        self.calls.append((name, request, metadata))
        outcome = self.plan[name](request)
        if isinstance(outcome, FakeError):
            trailing = (("x-error-code", outcome.code),) if outcome.code else ()
            await context.abort(outcome.status, outcome.details, trailing_metadata=trailing)
        return outcome


class GrpcServerThread:
    """The fake servicers on a grpc.aio server with an event loop (and thread) of its own."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-grpc", daemon=True)
        self.server: grpc.aio.Server | None = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self) -> int:
        server = grpc.aio.server()
        exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(
            FakeExchange(self.recorder), server
        )
        auth_service_pb2_grpc.add_AuthServiceServicer_to_server(FakeAuth(self.recorder), server)
        health = HealthServicer()
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self.server = server
        return port

    def start(self) -> int:
        self.thread.start()
        port: int = self._run(self._start())
        return port

    def stop(self) -> None:
        if self.server is not None:
            self._run(self.server.stop(grace=None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


class SessionAuth:
    """A session token the facade's local check accepts (conftest's JWT_SECRET) as a Bearer
    header; the fakes accept anything. Schemathesis leaves it off the cases where it tests a
    missing credential, so the 401 envelope is exercised too."""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return session_token(expires_in=24 * 3600)

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


class CurrentApp:
    """The ASGI app schemathesis sends to: whichever app `fuzz_app` set up for this test.

    Set as the schema's app (rather than passed to each call) so that checks which send
    requests of their own reach the same app."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "only the fuzz_app fixture sets up an app to fuzz"
        await self.app(scope, receive, send)


FUZZ_TARGET = CurrentApp()


def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Schemathesis hook: about half the JSON bodies get a lone UTF-16 surrogate in one string,
    a value or a key of the object.

    Hypothesis and schemathesis never generate lone surrogates (they cannot be encoded as
    UTF-8), yet JSON carries them as escapes, `"\\ud800"`, and browsers' JSON.stringify writes
    them for any JavaScript string cut through the middle of a pair (an emoji). Which body,
    where and which surrogate follow from a hash of the body, not from draws of their own:
    extra draws skewed generation (a quarter as many CREATE_TRADE bodies).
    """
    if not (isinstance(body, str) or (isinstance(body, dict) and body)):
        return body
    digest = zlib.crc32(repr(body).encode("utf-8", "surrogatepass"))
    if digest % 2:
        return body
    surrogate = chr(0xD800 + (digest >> 1) % 0x800)

    def insert(text: str) -> str:
        at = (digest >> 12) % (len(text) + 1)
        return text[:at] + surrogate + text[at:]

    if isinstance(body, str):
        return insert(body)
    keys = sorted(body)
    key = keys[(digest >> 20) % len(keys)]
    mutated = dict(body)
    if isinstance(body[key], str) and (digest >> 31) % 2:
        mutated[key] = insert(body[key])
    else:
        mutated[insert(key)] = mutated.pop(key)
    return mutated


def _document_schema() -> schemathesis.BaseSchema:
    """The facade's OpenAPI document, as a schemathesis schema.

    Built at import, because `@schema.parametrize()` makes one test item per operation at
    collection. It is the document the app serves at /openapi.json (`app.openapi()`), taken
    from an app that is never started: the requests go to the per-test app of `fuzz_app`,
    which is wired to a fresh fake gRPC server. (`schemathesis.pytest.from_fixture` would
    avoid the import-time app, but its lazy runner uses a pytest internal, `Node._nodeid`,
    that pytest 9.2 no longer has.)
    """
    document = create_app(load_settings()).openapi()
    loaded = schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(CONFIG))
    loaded.app = FUZZ_TARGET
    loaded.config.checks.update(included_check_names=CHECKS)
    loaded.auth()(SessionAuth)
    loaded.hook(map_body)
    return loaded.exclude(path="/api/v1/ws")


schema = _document_schema()


@pytest.fixture
def fuzz_recorder() -> FuzzRecorder:
    return FuzzRecorder(fuzz_plan())


@pytest.fixture
def fuzz_app(settings: Settings, fuzz_recorder: FuzzRecorder) -> Iterator[Any]:
    """The facade on a fake gRPC server of its own, for the cases of one operation.

    Its lifespan runs on schemathesis' ASGI event loop, where the requests will run, so the
    gRPC channel is opened (and, at the end, closed) on the loop that uses it. After the
    operation's cases, checks that they got through to the RPCs behind it.
    """
    server = GrpcServerThread(fuzz_recorder)
    port = server.start()
    try:
        app = create_app(settings, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
        with schemathesis_asgi.get_client(app):  # starts the lifespan
            FUZZ_TARGET.app = app
            try:
                yield app
            finally:
                FUZZ_TARGET.app = None
        # Ended here rather than by schemathesis' own teardown hook, so the channel closes
        # while the server is still up, whatever order the hooks run in.
        schemathesis_asgi.shutdown_lifespans()
    finally:
        server.stop()

    if fuzz_recorder.failed:
        return
    unknown = fuzz_recorder.operations - OPERATION_RPCS.keys()
    assert not unknown, f"new in the OpenAPI document: {sorted(unknown)}; add to OPERATION_RPCS"
    expected = set().union(*(OPERATION_RPCS[label] for label in fuzz_recorder.operations))
    reached = {name for name, _, _ in fuzz_recorder.calls}
    assert expected <= reached, (
        f"the fuzz never reached {sorted(expected - reached)}: every request stopped at the "
        "facade's auth or validation, so those handlers went untested"
    )


@schema.parametrize()
# Example counts, derandomizing and no example database come from CONFIG (per operation);
# `fuzz_app` spans all the cases of one operation on purpose: one server, one app.
@hypothesis.settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_operation_conforms_to_its_openapi(
    case: schemathesis.Case, fuzz_app: Any, fuzz_recorder: FuzzRecorder
) -> None:
    fuzz_recorder.operations.add(case.operation.label)
    try:
        case.call_and_validate()
    except BaseException:
        fuzz_recorder.failed = True
        raise
