"""A real gRPC gateway on port 0 over the real test Redis and Postgres, with a fake engine
task answering commands, an injected clock, and a mailer that keeps the links it would send."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
import redis.asyncio as aioredis
from exchange.v1 import auth_service_pb2, auth_service_pb2_grpc, exchange_service_pb2_grpc

from gateway_svc.db import Database
from gateway_svc.db.migrate import upgrade_to_head
from gateway_svc.grpc_server import GrpcServerHandle, serve
from gateway_svc.mailer import Mailer
from mesh import streams
from mesh.config import Settings, load_settings
from tests.gateway_grpc.fake_engine import FakeEngine

AUTH_SECRET = "test-auth-secret-" + "0123456789abcdef" * 4
EMAIL_SECRET = "test-email-secret-" + "fedcba9876543210" * 4


class FakeClock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CapturingMailer(Mailer):
    """Keeps (to, link, signup) instead of sending; the SMTP path has its own test."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sent: list[tuple[str, str, bool]] = []

    async def send_sign_in_link(self, to: str, link: str, signup: bool) -> None:
        self.sent.append((to, link, signup))

    def token_for(self, email: str) -> str:
        for to, link, _ in reversed(self.sent):
            if to == email.strip().lower():
                return parse_qs(urlsplit(link).query)["token"][0]
        raise AssertionError(f"no link sent to {email}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AUTH_JWT_SECRET", AUTH_SECRET)
    monkeypatch.setenv("EMAIL_JWT_SECRET", EMAIL_SECRET)
    monkeypatch.delenv("SMTP_HOST", raising=False)
    return dataclasses.replace(
        load_settings(),
        smtp_host=None,
        engine_timeout_ms=2000,
        backend_url="http://gateway.test",
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    upgrade_to_head(database_url)
    database = await Database.connect(database_url)
    yield database
    await database.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = streams.connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def engine(redis: aioredis.Redis) -> AsyncIterator[FakeEngine]:
    async with FakeEngine(redis) as fake:
        yield fake


@pytest.fixture
def mailer(settings: Settings) -> CapturingMailer:
    return CapturingMailer(settings)


@pytest.fixture
async def gateway(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    engine: FakeEngine,
    clock: FakeClock,
    mailer: CapturingMailer,
) -> AsyncIterator[GrpcServerHandle]:
    handle = await serve(
        settings,
        redis,
        db,
        port=0,
        host="127.0.0.1",
        clock=clock,
        mailer=mailer,
        instance_id="gw-test",
    )
    yield handle
    await handle.stop(1.0)


@pytest.fixture
async def channel(gateway: GrpcServerHandle) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as chan:
        yield chan


@pytest.fixture
def exchange(channel: grpc.aio.Channel) -> exchange_service_pb2_grpc.ExchangeServiceStub:
    return exchange_service_pb2_grpc.ExchangeServiceStub(channel)


@pytest.fixture
def auth(channel: grpc.aio.Channel) -> auth_service_pb2_grpc.AuthServiceStub:
    return auth_service_pb2_grpc.AuthServiceStub(channel)


async def sign_in(
    auth: auth_service_pb2_grpc.AuthServiceStub, mailer: CapturingMailer, email: str
) -> auth_service_pb2.CompleteSignInResponse:
    await auth.RequestSignInLink(auth_service_pb2.RequestSignInLinkRequest(email=email))
    return await auth.CompleteSignIn(
        auth_service_pb2.CompleteSignInRequest(token=mailer.token_for(email))
    )


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def trailers(err: grpc.aio.AioRpcError) -> dict[str, str]:
    return {key: value for key, value in (err.trailing_metadata() or ())}


@pytest.fixture
async def alice(
    gateway: GrpcServerHandle, auth: auth_service_pb2_grpc.AuthServiceStub, mailer: CapturingMailer
) -> tuple[tuple[str, str], ...]:
    """A signed-in user's call metadata."""
    reply = await sign_in(auth, mailer, "alice@example.com")
    return bearer(reply.session_token)
