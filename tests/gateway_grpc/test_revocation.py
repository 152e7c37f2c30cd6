"""Sign-out across gateway processes (issues 11 and 14): revocations held in memory by every
gateway, carried by Redis, kept in Postgres; sign-out that fails closed; sign out everywhere;
event streams that end with their session.

Two `serve()` instances on one Redis and one Postgres stand for two gateway processes: they
share nothing else, exactly as two processes would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import psycopg
import pytest
import redis.asyncio as aioredis
import websockets
from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc, exchange_service_pb2_grpc
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1.sessions_pb2 import SessionRevocation

from gateway_svc.auth import ISSUER, SESSION_AUDIENCE, Revocations, Sessions
from gateway_svc.auth.sessions import SIGN_OUT_FAILED
from gateway_svc.db import Database
from gateway_svc.errors import ApiError
from gateway_svc.grpc_server import GrpcServerHandle, serve
from gateway_svc.rest import create_app
from mesh import streams
from mesh.config import Settings
from mesh.embedded import EmbeddedRedis, free_port
from tests.gateway_grpc.conftest import (
    AUTH_SECRET,
    CapturingMailer,
    FakeClock,
    bearer,
    sign_in,
    trailers,
)
from tests.gateway_grpc.fake_engine import FakeEngine
from tests.polling import poll_async
from tests.rest.conftest import live_ws

ExchangeStub = exchange_service_pb2_grpc.ExchangeServiceStub
AuthStub = auth_service_pb2_grpc.AuthServiceStub
Metadata = tuple[tuple[str, str], ...]

# "Within a second" is the promise; the reader blocks 0.5 s at most between reads.
PROPAGATION_S = 1.0


@pytest.fixture
async def other(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    engine: FakeEngine,
    clock: FakeClock,
    mailer: CapturingMailer,
) -> AsyncIterator[ExchangeStub]:
    """A second gateway process's ExchangeService."""
    handle = await serve(
        settings, redis, db, port=0, host="127.0.0.1", clock=clock, mailer=mailer,
        instance_id="gw-test-2",
    )  # fmt: skip
    async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        yield ExchangeStub(channel)
    await handle.stop(1.0)


async def _accepted(exchange: ExchangeStub, metadata: Metadata) -> bool:
    try:
        await exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=metadata)
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
        return False
    return True


async def _refused_within(exchange: ExchangeStub, metadata: Metadata, limit_s: float) -> float:
    """Seconds until `exchange` refuses the session; fails past `limit_s`."""
    started = time.monotonic()
    await poll_async(
        lambda: _accepted(exchange, metadata),
        lambda accepted: not accepted,
        timeout_s=limit_s,
        every_s=0.02,
        what="the session refused",
    )
    return time.monotonic() - started


async def test_sign_out_on_one_gateway_is_refused_by_another_within_a_second(
    gateway: GrpcServerHandle, auth: AuthStub, mailer: CapturingMailer, other: ExchangeStub
) -> None:
    alice = bearer((await sign_in(auth, mailer, "alice@example.com")).session_token)
    assert await _accepted(other, alice)
    await auth.SignOut(au.SignOutRequest(), metadata=alice)
    await _refused_within(other, alice, PROPAGATION_S)


async def test_a_starting_gateway_loads_the_revocations_from_postgres(
    gateway: GrpcServerHandle,
    auth: AuthStub,
    mailer: CapturingMailer,
    redis: aioredis.Redis,
    clock: FakeClock,
    other: ExchangeStub,
    settings: Settings,
    db: Database,
) -> None:
    one = bearer((await sign_in(auth, mailer, "bob@example.com")).session_token)
    clock.advance(1)
    everywhere = bearer((await sign_in(auth, mailer, "carol@example.com")).session_token)
    await auth.SignOut(au.SignOutRequest(), metadata=one)
    clock.advance(1)
    await auth.SignOutEverywhere(au.SignOutEverywhereRequest(), metadata=everywhere)
    # Gone from Redis (trimmed, or a Redis that lost its data): Postgres still knows.
    await redis.delete(streams.REVOCATIONS)
    late = await serve(settings, redis, db, port=0, host="127.0.0.1", clock=clock)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{late.port}") as channel:
            assert not await _accepted(ExchangeStub(channel), one)
            assert not await _accepted(ExchangeStub(channel), everywhere)
    finally:
        await late.stop(1.0)


async def test_sign_out_everywhere_refuses_older_tokens_only(
    gateway: GrpcServerHandle,
    auth: AuthStub,
    exchange: ExchangeStub,
    mailer: CapturingMailer,
    clock: FakeClock,
    other: ExchangeStub,
) -> None:
    phone = bearer((await sign_in(auth, mailer, "dave@example.com")).session_token)
    clock.advance(60)
    laptop = bearer((await sign_in(auth, mailer, "dave@example.com")).session_token)
    someone_else = bearer((await sign_in(auth, mailer, "erin@example.com")).session_token)
    clock.advance(1)

    reply = await auth.SignOutEverywhere(au.SignOutEverywhereRequest(), metadata=laptop)

    assert reply.issued_before_ms == int(clock() * 1000)
    for metadata in (phone, laptop):
        assert not await _accepted(exchange, metadata)
        await _refused_within(other, metadata, PROPAGATION_S)
    assert await _accepted(other, someone_else)
    # One issued 1.5 ms later, in the cutoff's own second, is not affected: tokens
    # carry their issue time in ms (`iat_ms`), not only in whole seconds (`iat`).
    clock.advance(0.0015)
    fresh_ms = int(clock() * 1000)
    assert fresh_ms // 1000 == reply.issued_before_ms // 1000 and fresh_ms > reply.issued_before_ms
    fresh = bearer((await sign_in(auth, mailer, "dave@example.com")).session_token)
    assert await _accepted(exchange, fresh) and await _accepted(other, fresh)


async def test_sign_out_everywhere_revokes_the_links_still_in_the_inbox(
    gateway: GrpcServerHandle, auth: AuthStub, mailer: CapturingMailer, clock: FakeClock
) -> None:
    """Someone who read the inbox (a lost phone) must not get in with a link mailed before
    the trader signed out everywhere; a link asked for afterwards works."""
    session = bearer((await sign_in(auth, mailer, "gina@example.com")).session_token)
    await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="gina@example.com"))
    waiting = mailer.token_for("gina@example.com")  # not used yet
    clock.advance(1)
    await auth.SignOutEverywhere(au.SignOutEverywhereRequest(), metadata=session)

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.CompleteSignIn(au.CompleteSignInRequest(token=waiting))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    clock.advance(1)
    fresh = await sign_in(auth, mailer, "gina@example.com")
    assert fresh.session_token and not fresh.new_user


async def test_sign_out_fails_closed_when_postgres_cannot_store_it(
    gateway: GrpcServerHandle,
    auth: AuthStub,
    exchange: ExchangeStub,
    mailer: CapturingMailer,
    database_url: str,
    redis: aioredis.Redis,
) -> None:
    frank = bearer((await sign_in(auth, mailer, "frank@example.com")).session_token)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE revoked_sessions RENAME TO revoked_sessions_away")
        conn.execute("ALTER TABLE session_cutoffs RENAME TO session_cutoffs_away")
    calls = (
        lambda: auth.SignOut(au.SignOutRequest(), metadata=frank),
        lambda: auth.SignOutEverywhere(au.SignOutEverywhereRequest(), metadata=frank),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert info.value.details() == SIGN_OUT_FAILED
        assert trailers(info.value)["x-error-code"] == "ENGINE_UNAVAILABLE"
    # Not signed out, and nobody was told it was: no revocation went out either.
    assert await _accepted(exchange, frank)
    assert await redis.xlen(streams.REVOCATIONS) == 0

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE revoked_sessions_away RENAME TO revoked_sessions")
    await auth.SignOut(au.SignOutRequest(), metadata=frank)  # a retry succeeds
    assert not await _accepted(exchange, frank)


async def test_sign_out_fails_closed_when_redis_cannot_publish_it(
    db: Database, clock: FakeClock
) -> None:
    """Stored in Postgres but not on the stream: the other processes would keep accepting the
    token, so the caller is told it failed, and this process keeps accepting it too."""
    dead = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    revocations = Revocations(dead, db, clock)
    sessions = Sessions(AUTH_SECRET, db, revocations, dead, clock)
    revocations.loaded = True  # as if loaded before Redis went away
    token, _ = sessions.issue("u-1", "gina@example.com")
    principal = await sessions.authenticate(bearer(token))
    try:
        for sign_out in (sessions.sign_out, sessions.sign_out_everywhere):
            with pytest.raises(ApiError) as info:
                await sign_out(principal)
            assert info.value.spec.name == "ENGINE_UNAVAILABLE"
            assert await sessions.authenticate(bearer(token)) == principal
    finally:
        await dead.aclose()


async def test_no_session_is_accepted_before_the_revocations_are_loaded(
    db: Database, clock: FakeClock, redis: aioredis.Redis
) -> None:
    revocations = Revocations(redis, db, clock)  # never started: nothing known yet
    sessions = Sessions(AUTH_SECRET, db, revocations, redis, clock)
    token, _ = sessions.issue("u-1", "hank@example.com")
    with pytest.raises(ApiError) as info:
        await sessions.authenticate(bearer(token))
    assert info.value.spec.name == "ENGINE_UNAVAILABLE"


async def test_revocations_outlive_a_redis_outage_and_resume_after_it(
    tmp_path: Path, db: Database, clock: FakeClock
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    client = streams.connect(url)
    revocations = Revocations(client, db, clock)
    await revocations.start()
    sessions = Sessions(AUTH_SECRET, db, revocations, client, clock)
    token, _ = sessions.issue("u-1", "ivy@example.com")
    later, _ = sessions.issue("u-2", "jack@example.com")
    try:
        await sessions.sign_out(await sessions.authenticate(bearer(token)))
        server.stop()
        await asyncio.sleep(0.3)  # the reader notices
        with pytest.raises(ApiError):  # still refused: what is known stays known
            await sessions.authenticate(bearer(token))
        server.start()  # same port, same data
        publisher = streams.connect(url)
        revoked = await sessions.authenticate(bearer(later))
        entry = SessionRevocation(jti=revoked.jti, expires_at_ms=revoked.exp * 1000)
        await publisher.xadd(streams.REVOCATIONS, {streams.PAYLOAD: entry.SerializeToString()})
        await publisher.aclose()
        await poll_async(
            lambda: revocations.is_revoked(revoked.jti, revoked.user_id, revoked.issued_at_ms),
            timeout_s=3.0,  # the reader's back-off is short after a short outage
            what="the reader resumed after the outage",
        )
    finally:
        await revocations.stop()
        await client.aclose()
        server.stop()


async def test_trade_event_stream_ends_within_a_second_of_sign_out(
    gateway: GrpcServerHandle,
    auth: AuthStub,
    mailer: CapturingMailer,
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    clock: FakeClock,
) -> None:
    """Issue 14: the stream is on another gateway than the sign-out, and idle."""
    kate = bearer((await sign_in(auth, mailer, "kate@example.com")).session_token)
    other = await serve(settings, redis, db, port=0, host="127.0.0.1", clock=clock)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{other.port}") as channel:
            call = ExchangeStub(channel).StreamTradeEvents(
                xs.StreamTradeEventsRequest(), metadata=kate
            )
            reading = asyncio.ensure_future(call.read())
            await asyncio.sleep(0.3)  # the stream is open, authenticated, waiting for events
            assert not reading.done()
            await auth.SignOut(au.SignOutRequest(), metadata=kate)
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await asyncio.wait_for(reading, 5.0)
            elapsed = time.monotonic() - started
    finally:
        await other.stop(1.0)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # As a unary call's refusal says it: the session is the `authorization` metadata's.
    metadata = dict(info.value.trailing_metadata() or ())
    assert (metadata["x-error-code"], metadata["x-error-field"]) == (
        "UNAUTHENTICATED",
        "authorization",
    )
    assert elapsed < 2 * PROPAGATION_S


async def test_the_websockets_trade_events_end_within_a_second_of_sign_out(
    gateway: GrpcServerHandle, auth: AuthStub, mailer: CapturingMailer, settings: Settings
) -> None:
    """The facade's WebSocket over the real gRPC server: its authenticated part (the trade
    events) ends with an UNAUTHENTICATED message; the public prices go on."""
    token = (await sign_in(auth, mailer, "liam@example.com")).session_token
    app = create_app(settings, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}"))
    async with (
        app.router.lifespan_context(app),
        live_ws(app) as url,
        websockets.connect(url) as socket,
    ):
        await socket.send(json.dumps({"type": "auth", "token": token}))
        assert await _ws_next(socket, "auth") == {"type": "auth", "status": "ok"}
        await asyncio.sleep(0.3)  # the trade event stream is open
        await auth.SignOut(au.SignOutRequest(), metadata=bearer(token))
        started = time.monotonic()
        error = await _ws_next(socket, "error", code="UNAUTHENTICATED")
        elapsed = time.monotonic() - started
        await socket.send(json.dumps({"type": "ping"}))
        assert await _ws_next(socket, "pong") == {"type": "pong"}  # the socket lives on
    assert error["code"] == "UNAUTHENTICATED"
    assert elapsed < 2 * PROPAGATION_S


async def _ws_next(socket: Any, kind: str, code: str | None = None) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        if message["type"] == kind and code in (None, message.get("code")):
            return message


class NoStore:
    async def current_revocations(self) -> tuple[list[Any], list[Any]]:
        return [], []


async def test_sign_out_everywhere_refuses_what_was_issued_up_to_its_millisecond(
    clock: FakeClock,
) -> None:
    """Halfway through a second: a token issued earlier in that second is refused, with its
    ms issue time (`iat_ms`) or without one (a token from before it, counted from the start
    of its second); one issued a ms after the cutoff is not."""
    revocations = Revocations(aioredis.Redis(), NoStore(), clock)  # never started
    revocations.loaded = True
    sessions = Sessions(AUTH_SECRET, NoStore(), revocations, aioredis.Redis(), clock)
    clock.advance(0.5)
    cutoff_ms = int(clock() * 1000)
    revocations.add(
        SessionRevocation(user_id="u", issued_before_ms=cutoff_ms, expires_at_ms=cutoff_ms + 9_000)
    )
    second = cutoff_ms // 1000

    def token(**claims: Any) -> tuple[tuple[str, str], ...]:
        payload = {"sub": "u", "email": "u@example.com", "aud": SESSION_AUDIENCE, "iss": ISSUER,
                   "iat": second, "exp": second + 3600, "jti": "j", **claims}  # fmt: skip
        return bearer(jwt.encode(payload, AUTH_SECRET, algorithm="HS256"))

    for before in (token(iat_ms=cutoff_ms - 1), token(iat_ms=cutoff_ms), token()):
        with pytest.raises(ApiError):
            await sessions.authenticate(before)
    after = await sessions.authenticate(token(iat_ms=cutoff_ms + 1, jti="after"))
    assert after.issued_at_ms == cutoff_ms + 1


def test_expired_revocations_are_forgotten(clock: FakeClock) -> None:
    """Memory follows the revocations that can still matter: past a token's own expiry its
    revocation is dropped (the token is refused by its expiry anyway)."""
    revocations = Revocations(aioredis.Redis(), NoStore(), clock)  # never started
    now_ms = int(clock() * 1000)
    revocations.add(SessionRevocation(jti="old", expires_at_ms=now_ms + 1000))
    revocations.add(
        SessionRevocation(user_id="u", issued_before_ms=now_ms, expires_at_ms=now_ms + 1000)
    )
    assert revocations.is_revoked("old", "x", 0) and revocations.is_revoked("j", "u", 0)
    assert len(revocations) == 2
    clock.advance(3600)
    revocations.add(SessionRevocation(jti="new", expires_at_ms=now_ms + 7200_000))
    assert len(revocations) == 1
    assert revocations.is_revoked("new", "x", 0) and not revocations.is_revoked("old", "x", 0)
