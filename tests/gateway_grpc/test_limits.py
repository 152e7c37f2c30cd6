"""Per-user command rate limit and the trusted client address, on a real gateway.

A gateway with tight limits (COMMAND_RATE_LIMIT 0.5/s, COMMAND_RATE_BURST 3, two sign-in links
per client), kept in the test Redis: a refill takes 2 s of Redis's own clock, longer than any
test here waits, so a refill never happens by accident (test_limiters.py shows it does happen).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import grpc
import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc, exchange_service_pb2_grpc, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.auth import Revocations, Sessions, SignInLinkLimits
from gateway_svc.db import Database
from gateway_svc.errors import ApiError
from gateway_svc.grpc_server import GrpcServerHandle, serve
from gateway_svc.grpc_services import AuthServicer, ExchangeServicer
from gateway_svc.grpc_services.auth_servicer import LIMITS_UNAVAILABLE
from gateway_svc.rest import create_app
from gateway_svc.token_bucket import SharedTokenBuckets
from mesh import streams
from mesh.config import Settings
from mesh.embedded import free_port
from tests.gateway_grpc.conftest import (
    AUTH_SECRET,
    CapturingMailer,
    FakeClock,
    bearer,
    sign_in,
    trailers,
)
from tests.gateway_grpc.fake_engine import FakeEngine

ExchangeStub = exchange_service_pb2_grpc.ExchangeServiceStub
AuthStub = auth_service_pb2_grpc.AuthServiceStub
Metadata = tuple[tuple[str, str], ...]

ORDER_ID = "5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a"
TRADE_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
BURST = 3
RATE = Decimal("0.5")  # one token every 2 s


@dataclasses.dataclass
class Limited:
    handle: GrpcServerHandle
    exchange: ExchangeStub
    auth: AuthStub
    settings: Settings


async def _start(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    clock: FakeClock,
    mailer: CapturingMailer,
    instance_id: str = "gw-limits",
) -> tuple[GrpcServerHandle, grpc.aio.Channel]:
    handle = await serve(
        settings,
        redis,
        db,
        port=0,
        host="127.0.0.1",
        clock=clock,
        mailer=mailer,
        instance_id=instance_id,
    )
    return handle, grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}")


def _tight(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(
        settings,
        command_rate_limit=RATE,
        command_rate_burst=BURST,
        signin_links_per_client=2,
        **changes,
    )


@pytest.fixture
async def limited(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    engine: FakeEngine,
    clock: FakeClock,
    mailer: CapturingMailer,
) -> AsyncIterator[Limited]:
    tight = _tight(settings)
    handle, channel = await _start(tight, redis, db, clock, mailer)
    yield Limited(handle, ExchangeStub(channel), AuthStub(channel), tight)
    await channel.close()
    await handle.stop(1.0)


async def _user(limited: Limited, mailer: CapturingMailer, email: str) -> Metadata:
    reply = await sign_in(limited.auth, mailer, email)
    return bearer(reply.session_token)


async def _refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def _trade_request() -> xs.CreateTradeRequest:
    return xs.CreateTradeRequest(
        order_id=ORDER_ID,
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=types_pb2.Decimal(units=100_000, scale=4),
        leverage=10,
    )


def _place_request() -> xs.PlaceOrderRequest:
    return xs.PlaceOrderRequest(
        order_id=ORDER_ID,
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        order_type=types_pb2.ORDER_TYPE_LIMIT,
        price=types_pb2.Decimal(units=2301, scale=1),
        margin=types_pb2.Decimal(units=10, scale=0),
        leverage=100,
    )


# ---- command rate limit -----------------------------------------------------------------


async def test_over_the_rate_is_refused_with_retry_after_and_reaches_no_stream(
    limited: Limited,
    mailer: CapturingMailer,
    engine: FakeEngine,
    redis: aioredis.Redis,
    clock: FakeClock,
) -> None:
    alice = await _user(limited, mailer, "alice@example.com")
    for _ in range(BURST):
        await limited.exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=alice)
    commands, stream_length = len(engine.commands), await redis.xlen(streams.COMMANDS)

    error = await _refused(limited.exchange.CreateTrade(_trade_request(), metadata=alice))

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details().startswith("too many requests")
    meta = trailers(error)
    assert meta["x-error-code"] == "RATE_LIMITED"
    assert meta["retry-after"] == "2"  # a whole token at 0.5/s
    assert meta["x-order-id"] == ORDER_ID
    # Nothing reached the engine: no command on the stream, none seen by the engine.
    assert await redis.xlen(streams.COMMANDS) == stream_length
    assert len(engine.commands) == commands

    # Another user has a bucket of their own.
    bob = await _user(limited, mailer, "bob@example.com")
    await limited.exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=bob)

    # The bucket is in Redis, and lives until it is full again: 3 tokens at 0.5/s.
    ttl_ms = await redis.pttl("limit:cmd:" + (await _user_id(limited, alice)))
    assert 2000 < ttl_ms <= 6000


async def _user_id(limited: Limited, metadata: Metadata) -> str:
    account = await _refused(limited.exchange.GetAccount(xs.GetAccountRequest(), metadata=metadata))
    assert account.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    token = metadata[0][1].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["sub"])


async def test_the_limit_holds_across_gateway_instances(
    limited: Limited,
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    clock: FakeClock,
    mailer: CapturingMailer,
    engine: FakeEngine,
) -> None:
    """Issue 11: one user's calls spread over two gateways share one bucket."""
    other, channel = await _start(limited.settings, redis, db, clock, mailer, "gw-limits-2")
    try:
        stubs = (limited.exchange, ExchangeStub(channel))
        erin = await _user(limited, mailer, "erin@example.com")
        for n in range(BURST):
            await stubs[n % 2].GetBalance(xs.GetBalanceRequest(), metadata=erin)
        for stub in stubs:
            error = await _refused(stub.GetBalance(xs.GetBalanceRequest(), metadata=erin))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert trailers(error)["retry-after"] == "2"
    finally:
        await channel.close()
        await other.stop(1.0)


CALLS: dict[str, Callable[[ExchangeStub, Metadata], Awaitable[Any]]] = {
    "CreateAccount": lambda x, m: x.CreateAccount(xs.CreateAccountRequest(), metadata=m),
    "GetUsdBalance": lambda x, m: x.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=m),
    "GetBalance": lambda x, m: x.GetBalance(xs.GetBalanceRequest(), metadata=m),
    "GetAccount": lambda x, m: x.GetAccount(xs.GetAccountRequest(), metadata=m),
    "CreateTrade": lambda x, m: x.CreateTrade(_trade_request(), metadata=m),
    "CloseTrade": lambda x, m: x.CloseTrade(xs.CloseTradeRequest(trade_id=TRADE_ID), metadata=m),
    "ListOpenTrades": lambda x, m: x.ListOpenTrades(xs.ListOpenTradesRequest(), metadata=m),
    "ListClosedTrades": lambda x, m: x.ListClosedTrades(xs.ListClosedTradesRequest(), metadata=m),
    "ListOrders": lambda x, m: x.ListOrders(xs.ListOrdersRequest(), metadata=m),
    "PlaceOrder": lambda x, m: x.PlaceOrder(_place_request(), metadata=m),
    "CancelOrder": lambda x, m: x.CancelOrder(
        xs.CancelOrderRequest(order_id=ORDER_ID, trade_id=TRADE_ID), metadata=m
    ),
    "ModifyTrade": lambda x, m: x.ModifyTrade(
        xs.ModifyTradeRequest(
            order_id=ORDER_ID, trade_id=TRADE_ID, take_profit_price=types_pb2.PriceChange()
        ),
        metadata=m,
    ),
    "ListPendingTrades": lambda x, m: x.ListPendingTrades(
        xs.ListPendingTradesRequest(), metadata=m
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_every_trading_call_spends_from_the_same_bucket(
    name: str, limited: Limited, mailer: CapturingMailer, engine: FakeEngine
) -> None:
    carol = await _user(limited, mailer, "carol@example.com")
    for _ in range(BURST):
        await limited.exchange.GetBalance(xs.GetBalanceRequest(), metadata=carol)
    commands = len(engine.commands)

    error = await _refused(CALLS[name](limited.exchange, carol))

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    assert len(engine.commands) == commands


async def test_public_market_data_is_not_a_command(limited: Limited, mailer: Any) -> None:
    for _ in range(BURST + 2):
        await limited.exchange.ListSupportedAssets(xs.ListSupportedAssetsRequest())


async def test_rest_answers_429_with_retry_after(
    limited: Limited, mailer: CapturingMailer, engine: FakeEngine
) -> None:
    """The facade in front of the real gRPC server: the limit and its Retry-After arrive."""
    dave = await _user(limited, mailer, "dave@example.com")
    headers = {"Authorization": dave[0][1]}
    port = limited.handle.port
    app = create_app(limited.settings, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(BURST):
                ok = await client.post(
                    "/api/v1/engine", json={"command": "GET_BALANCE"}, headers=headers
                )
                assert ok.status_code == 200, ok.text
            commands = len(engine.commands)
            body = {"command": "CLOSE_TRADE", "tradeId": TRADE_ID, "orderId": ORDER_ID}
            limited_reply = await client.post("/api/v1/engine", json=body, headers=headers)
    finally:
        await app.state.clients.close()

    assert limited_reply.status_code == 429
    assert limited_reply.headers["retry-after"] == "2"
    envelope = limited_reply.json()
    assert envelope["success"] is False
    assert envelope["code"] == "RATE_LIMITED"
    assert envelope["orderId"] == ORDER_ID
    assert envelope["engineResponse"] == {
        "status": "error",
        "data": None,
        "message": envelope["error"],
    }
    assert len(engine.commands) == commands


# ---- trusted client address ---------------------------------------------------------------


async def _link(auth: AuthStub, email: str, forwarded_for: str | None) -> None:
    metadata = (("x-forwarded-for", forwarded_for),) if forwarded_for else ()
    await auth.RequestSignInLink(au.RequestSignInLinkRequest(email=email), metadata=metadata)


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    limited: Limited, mailer: CapturingMailer
) -> None:
    """The test client connects over loopback, which TRUSTED_PROXIES trusts by default, as
    it trusts the facade: each forwarded address gets its own two links."""
    assert ipaddress.ip_address("127.0.0.1") in limited.settings.trusted_proxies[0]
    await _link(limited.auth, "a1@example.com", "203.0.113.7")
    await _link(limited.auth, "a2@example.com", "203.0.113.7")
    error = await _refused(_link(limited.auth, "a3@example.com", "203.0.113.7"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(trailers(error)["retry-after"]) >= 1

    await _link(limited.auth, "b1@example.com", "203.0.113.8")  # another client
    await _link(limited.auth, "c1@example.com", None)  # the proxy itself


async def test_strangers_spending_a_mailboxs_links_do_not_lock_its_owner_out(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    engine: FakeEngine,
    clock: FakeClock,
    mailer: CapturingMailer,
) -> None:
    """A security audit locked a chosen trader out with ten requests from ten addresses
    (`victim+N@...` all count as the victim's mailbox). The client that signed in to the
    mailbox before (here the test client itself, no x-forwarded-for) keeps a share of its own."""
    tight = dataclasses.replace(settings, signin_links_per_email=3)
    handle, channel = await _start(tight, redis, db, clock, mailer)
    auth = AuthStub(channel)
    try:
        await sign_in(auth, mailer, "victim@example.com")  # the owner, once, from its address
        for n in range(3):  # that was one of three; strangers spend the rest, and more
            stranger = f"198.51.100.{n + 1}"
            attempt = _link(auth, f"Victim+{n}@example.com", stranger)
            if n < 2:
                await attempt
            else:
                assert (await _refused(attempt)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for _ in range(3):  # the owner's own share: three links
            await _link(auth, "victim@example.com", None)
        owner_over = await _refused(_link(auth, "victim@example.com", None))
    finally:
        await channel.close()
        await handle.stop(1.0)
    assert owner_over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # bounded as well
    assert len(mailer.sent) == 1 + 2 + 3


async def test_ipv6_clients_of_one_64_share_the_link_limit(
    limited: Limited, mailer: CapturingMailer
) -> None:
    """Issue 14: a client holding a /64 cannot buy more links with a new address per request."""
    await _link(limited.auth, "e1@example.com", "2001:db8:7:7::1")
    await _link(limited.auth, "e2@example.com", "2001:db8:7:7:aaaa:bbbb:cccc:dddd")
    error = await _refused(_link(limited.auth, "e3@example.com", "2001:db8:7:7::3"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await _link(limited.auth, "e4@example.com", "2001:db8:7:8::1")  # another /64


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    engine: FakeEngine,
    clock: FakeClock,
    mailer: CapturingMailer,
) -> None:
    """With loopback not trusted, a client that forges x-forwarded-for is still its peer
    address: a new forged address per request does not buy more links."""
    untrusted = _tight(settings, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    handle, channel = await _start(untrusted, redis, db, clock, mailer)
    try:
        auth = AuthStub(channel)
        await _link(auth, "d1@example.com", "198.51.100.1")
        await _link(auth, "d2@example.com", "198.51.100.2")
        error = await _refused(_link(auth, "d3@example.com", "198.51.100.3"))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    finally:
        await channel.close()
        await handle.stop(1.0)


# ---- without Redis the limits fail closed -------------------------------------------------


class _Context:
    """Enough of a ServicerContext for a call that never gets past its limit."""

    def __init__(self, metadata: Metadata = ()) -> None:
        self.metadata = metadata

    def invocation_metadata(self) -> Metadata:
        return self.metadata

    def peer(self) -> str:
        return "ipv4:192.0.2.1:4242"


@pytest.fixture
async def dead_redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    yield client
    await client.aclose()


async def test_no_sign_in_link_without_redis(dead_redis: aioredis.Redis) -> None:
    limits = SignInLinkLimits(dead_redis, 10, 60, 900)
    servicer = AuthServicer(None, None, None, None, None, limits, ())  # type: ignore[arg-type]
    request = au.RequestSignInLinkRequest(email="a@example.com")
    with pytest.raises(ApiError) as info:
        await AuthServicer.RequestSignInLink.__wrapped__(servicer, request, _Context())  # type: ignore[attr-defined]
    assert info.value.spec.name == "ENGINE_UNAVAILABLE"  # 503
    assert info.value.message == LIMITS_UNAVAILABLE


async def test_no_trading_call_without_redis(
    dead_redis: aioredis.Redis, redis: aioredis.Redis, db: Database, clock: FakeClock
) -> None:
    revocations = Revocations(redis, db, clock)
    revocations.loaded = True
    sessions = Sessions(AUTH_SECRET, db, revocations, redis, clock)
    token, _ = sessions.issue("u-1", "a@example.com")
    command_limit = SharedTokenBuckets(dead_redis, RATE, BURST, "limit:cmd:")
    servicer = ExchangeServicer(sessions, None, db, None, None, command_limit, None)  # type: ignore[arg-type]
    with pytest.raises(ApiError) as info:
        await servicer._limited_principal(_Context(bearer(token)))  # type: ignore[arg-type]
    assert info.value.spec.name == "ENGINE_UNAVAILABLE"


async def test_a_malformed_command_spends_a_token_too(
    limited: Limited, mailer: CapturingMailer, engine: FakeEngine
) -> None:
    """The hot commands spend their token in their own XADD; one refused before it (here by
    the edge's validation) spends one all the same, so a flood of malformed commands is
    limited as any other."""
    dave = await _user(limited, mailer, "dave@example.com")
    bad = _trade_request()
    bad.leverage = 1001  # tenths: over 100x
    for _ in range(BURST):
        error = await _refused(limited.exchange.CreateTrade(bad, metadata=dave))
        assert trailers(error)["x-error-code"] == "INVALID_LEVERAGE"
    error = await _refused(limited.exchange.CreateTrade(bad, metadata=dave))
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    error = await _refused(limited.exchange.GetBalance(xs.GetBalanceRequest(), metadata=dave))
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"


async def test_a_malformed_order_spends_a_token_too(
    limited: Limited, mailer: CapturingMailer, engine: FakeEngine
) -> None:
    """The toolset's orders too spend their token in their own XADD, and one refused before
    it spends one all the same."""
    gina = await _user(limited, mailer, "gina@example.com")
    bad = _place_request()
    bad.leverage = 1001  # tenths: over 100x
    commands = len(engine.commands)
    for _ in range(BURST):
        error = await _refused(limited.exchange.PlaceOrder(bad, metadata=gina))
        assert trailers(error)["x-error-code"] == "INVALID_LEVERAGE"
    error = await _refused(limited.exchange.PlaceOrder(_place_request(), metadata=gina))
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    assert len(engine.commands) == commands


async def test_a_malformed_order_id_spends_a_token_too(
    limited: Limited, mailer: CapturingMailer, engine: FakeEngine
) -> None:
    """The order id is checked after the caller, like every other field: a bad one is
    INVALID_ARGUMENT and spends a token (one call each of three commands here)."""
    hank = await _user(limited, mailer, "hank@example.com")
    commands = len(engine.commands)
    stub = limited.exchange
    bad_ones = [
        (stub.CreateTrade, _trade_request()),
        (stub.PlaceOrder, _place_request()),
        (stub.CreateAccount, xs.CreateAccountRequest()),
    ]
    assert len(bad_ones) == BURST
    for call, bad in bad_ones:
        bad.order_id = "not-a-uuid"
        error = await _refused(call(bad, metadata=hank))
        assert trailers(error)["x-error-code"] == "INVALID_ARGUMENT"
    error = await _refused(limited.exchange.CreateTrade(_trade_request(), metadata=hank))
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    assert len(engine.commands) == commands


async def test_a_redis_that_forgot_the_script_still_limits_and_takes_the_command(
    limited: Limited, mailer: CapturingMailer, engine: FakeEngine, redis: aioredis.Redis
) -> None:
    """After a Redis restart or SCRIPT FLUSH, EVALSHA answers NOSCRIPT (and runs nothing): the
    command goes again with the script itself, once."""
    frank = await _user(limited, mailer, "frank@example.com")
    await redis.script_flush()
    commands = len(engine.commands)
    await limited.exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=frank)
    assert len(engine.commands) == commands + 1
    for _ in range(BURST - 1):
        await limited.exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=frank)
    error = await _refused(
        limited.exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=frank)
    )
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    assert len(engine.commands) == commands + BURST
