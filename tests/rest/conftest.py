"""A real grpc.aio server on 127.0.0.1:0 with fake servicers, and the facade pointed at it.

The fakes record every call (method, request, metadata) so a test can prove that bad input
reached nothing, and answer with whatever reply or error a test queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import jwt
import pytest
import uvicorn
from exchange.v1 import (
    auth_service_pb2,
    auth_service_pb2_grpc,
    exchange_service_pb2_grpc,
    prices_pb2,
    types_pb2,
)
from exchange.v1 import exchange_service_pb2 as xs
from fastapi import FastAPI
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from gateway_svc.rest import create_app
from gateway_svc.stream_headers import SUBSCRIBED
from mesh.config import Settings, load_settings

JWT_SECRET = "test-auth-secret-0123456789abcdef"
FRONTEND_URL = "http://front.example:3000/app"


def session_token(secret: str = JWT_SECRET, expires_in: int = 3600) -> str:
    claims = {"sub": "user-1", "email": "a@b.co", "exp": int(time.time()) + expires_in}
    return jwt.encode(claims, secret, algorithm="HS256")


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


@dataclasses.dataclass
class FakeError:
    status: grpc.StatusCode
    code: str | None = None  # x-error-code
    details: str = ""
    order_id: str | None = None
    extra: tuple[tuple[str, str], ...] = ()  # more trailing metadata (retry-after, ...)


class Recorder:
    """What the fakes saw and what they will answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, str]]] = []
        self.replies: dict[str, Any] = {}
        self.ticks: list[prices_pb2.PriceTick] = []
        self.events: list[Any] = []
        # After its events, StreamTradeEvents ends with this status (None: it stays open).
        self.events_end: grpc.StatusCode | None = None
        # How long StreamTradeEvents takes to subscribe (send its headers), and whether it
        # refuses the session instead, as the real server does for a revoked token.
        self.subscribe_delay_s = 0.0
        self.events_refused: grpc.StatusCode | None = None
        self.subscribed = asyncio.Event()
        self.events_cancelled = asyncio.Event()
        self.stream_cancelled = asyncio.Event()

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    async def answer(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        self.calls.append((name, request, metadata))
        reply = self.replies.get(name)
        if isinstance(reply, FakeError):
            trailing = []
            if reply.code:
                trailing.append(("x-error-code", reply.code))
            if reply.order_id:
                trailing.append(("x-order-id", reply.order_id))
            trailing.extend(reply.extra)
            await context.abort(reply.status, reply.details, trailing_metadata=tuple(trailing))
        if callable(reply):
            reply = reply(request)
        if reply is None:
            raise AssertionError(f"test queued no reply for {name}")
        return reply


def _unary(name: str) -> Any:
    async def method(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.recorder.answer(name, request, context)

    method.__name__ = name
    return method


class FakeExchange(exchange_service_pb2_grpc.ExchangeServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    ListSupportedAssets = _unary("ListSupportedAssets")
    GetPrice = _unary("GetPrice")
    ListCandles = _unary("ListCandles")
    CreateAccount = _unary("CreateAccount")
    GetUsdBalance = _unary("GetUsdBalance")
    GetBalance = _unary("GetBalance")
    GetAccount = _unary("GetAccount")
    CreateTrade = _unary("CreateTrade")
    CloseTrade = _unary("CloseTrade")
    ListOpenTrades = _unary("ListOpenTrades")
    ListClosedTrades = _unary("ListClosedTrades")
    ListOrders = _unary("ListOrders")
    PlaceOrder = _unary("PlaceOrder")
    CancelOrder = _unary("CancelOrder")
    ModifyTrade = _unary("ModifyTrade")
    ListPendingTrades = _unary("ListPendingTrades")

    async def StreamPrices(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.recorder.calls.append(("StreamPrices", request, {}))
        try:
            for tick in self.recorder.ticks:
                yield xs.StreamPricesResponse(tick=tick)
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.recorder.stream_cancelled.set()
            raise

    async def StreamTradeEvents(self, request: Any, context: Any) -> AsyncIterator[Any]:
        metadata = {k: v for k, v in context.invocation_metadata() or ()}
        self.recorder.calls.append(("StreamTradeEvents", request, metadata))
        await asyncio.sleep(self.recorder.subscribe_delay_s)
        if self.recorder.events_refused is not None:
            await context.abort(self.recorder.events_refused, "refused before subscribing")
        self.recorder.subscribed.set()
        await context.send_initial_metadata((SUBSCRIBED,))
        for event in self.recorder.events:
            yield xs.StreamTradeEventsResponse(event=event)
        if self.recorder.events_end is not None:
            await context.abort(self.recorder.events_end, "trade events were missed")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.recorder.events_cancelled.set()
            raise


class FakeAuth(auth_service_pb2_grpc.AuthServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    RequestSignInLink = _unary("RequestSignInLink")
    CompleteSignIn = _unary("CompleteSignIn")
    SignOut = _unary("SignOut")
    SignOutEverywhere = _unary("SignOutEverywhere")


@pytest.fixture
def recorder() -> Recorder:
    recorder = Recorder()
    recorder.replies["SignOut"] = auth_service_pb2.SignOutResponse()
    recorder.replies["SignOutEverywhere"] = auth_service_pb2.SignOutEverywhereResponse()
    return recorder


@pytest.fixture
async def grpc_port(recorder: Recorder) -> AsyncIterator[int]:
    server = grpc.aio.server()
    exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(FakeExchange(recorder), server)
    auth_service_pb2_grpc.add_AuthServiceServicer_to_server(FakeAuth(recorder), server)
    health = HealthServicer()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    from grpc_health.v1 import health_pb2_grpc

    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(grace=None)


@pytest.fixture
def settings() -> Settings:
    return dataclasses.replace(
        load_settings(),
        auth_jwt_secret=JWT_SECRET,
        frontend_url=FRONTEND_URL,
        engine_timeout_ms=2000,
    )


@pytest.fixture
async def app(settings: Settings, grpc_port: int) -> AsyncIterator[FastAPI]:
    app = create_app(settings, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}"))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token()}"}


@contextlib.asynccontextmanager
async def live_ws(app: FastAPI, behind_proxy: bool = False) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free port, for real WebSocket clients: its ws:// URL.
    `behind_proxy`: loopback is a trusted proxy, so a client's X-Forwarded-For is its address."""
    proxy = {"proxy_headers": True, "forwarded_allow_ips": ["127.0.0.1"]} if behind_proxy else {}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **proxy
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/api/v1/ws"
    finally:
        server.should_exit = True
        await task
