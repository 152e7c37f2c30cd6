"""Sign-in by e-mail link, sessions, sign-out: every way in that must fail, fails the same way."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from email import message_from_bytes
from typing import Any

import grpc
import jwt
import pytest
from aiosmtpd.controller import Controller
from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc, exchange_service_pb2_grpc
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.auth import (
    EMAIL_AUDIENCE,
    ISSUER,
    SESSION_AUDIENCE,
    SESSION_REJECTED,
)
from gateway_svc.db import Database
from gateway_svc.grpc_server import serve
from gateway_svc.mailer import Mailer
from mesh.config import Settings
from mesh.embedded import free_port
from tests.gateway_grpc.conftest import (
    AUTH_SECRET,
    EMAIL_SECRET,
    CapturingMailer,
    FakeClock,
    bearer,
    sign_in,
    trailers,
)
from tests.gateway_grpc.fake_engine import FakeEngine

ExchangeStub = exchange_service_pb2_grpc.ExchangeServiceStub
AuthStub = auth_service_pb2_grpc.AuthServiceStub


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


def handmade(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand, so the header can claim any algorithm."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b""
    if key is not None:
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def session_claims(clock: FakeClock, **override: Any) -> dict[str, Any]:
    now = int(clock())
    claims = {
        "sub": "0d7f9c1e-1111-4b5e-9c3a-5f2e8d4c7b6a",
        "email": "mallory@example.com",
        "aud": SESSION_AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 3600,
        "jti": "jti-1",
    }
    claims.update(override)
    return claims


async def expect_unauthenticated(exchange: ExchangeStub, metadata: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=metadata)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # One message whatever failed: the caller learns nothing about which check it was.
    assert info.value.details() == SESSION_REJECTED
    assert trailers(info.value)["x-error-code"] == "UNAUTHENTICATED"
    assert trailers(info.value)["x-error-field"] == "authorization"  # the metadata at fault


BAD_TOKENS = {
    "forged": lambda c: jwt.encode(session_claims(c), "not-the-secret-" * 3, algorithm="HS256"),
    "alg none": lambda c: handmade({"alg": "none", "typ": "JWT"}, session_claims(c), None),
    "RS256 header, HMAC body": lambda c: handmade(
        {"alg": "RS256", "typ": "JWT"}, session_claims(c), AUTH_SECRET.encode()
    ),
    "HS512 with the right secret": lambda c: jwt.encode(
        session_claims(c), AUTH_SECRET, algorithm="HS512"
    ),
    "wrong audience": lambda c: jwt.encode(
        session_claims(c, aud=EMAIL_AUDIENCE), AUTH_SECRET, algorithm="HS256"
    ),
    "wrong issuer": lambda c: jwt.encode(
        session_claims(c, iss="someone-else"), AUTH_SECRET, algorithm="HS256"
    ),
    "expired": lambda c: jwt.encode(
        session_claims(c, iat=int(c()) - 7200, exp=int(c()) - 1), AUTH_SECRET, algorithm="HS256"
    ),
    "no jti": lambda c: jwt.encode(
        {k: v for k, v in session_claims(c).items() if k != "jti"}, AUTH_SECRET, algorithm="HS256"
    ),
    "e-mail token as session": lambda c: jwt.encode(
        session_claims(c, aud=EMAIL_AUDIENCE), EMAIL_SECRET, algorithm="HS256"
    ),
    "iat_ms outside its iat second": lambda c: jwt.encode(
        session_claims(c, iat_ms=(int(c()) + 1) * 1000), AUTH_SECRET, algorithm="HS256"
    ),
    "iat_ms not an integer": lambda c: jwt.encode(
        session_claims(c, iat_ms=f"{int(c()) * 1000}"), AUTH_SECRET, algorithm="HS256"
    ),
    "not a jwt": lambda c: "hello",
}


async def test_no_token_is_unauthenticated(gateway: Any, exchange: ExchangeStub) -> None:
    await expect_unauthenticated(exchange, ())
    await expect_unauthenticated(exchange, (("authorization", "Basic abc"),))
    await expect_unauthenticated(exchange, (("authorization", "Bearer "),))


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_tokens_are_unauthenticated(
    kind: str, exchange: ExchangeStub, clock: FakeClock
) -> None:
    await expect_unauthenticated(exchange, bearer(BAD_TOKENS[kind](clock)))


ORDER_ID = "3f2b8c9a-5d1e-4f7a-b6c3-9e8d7a6b5c4d"
# Every state-changing command, each with a malformed order id and a malformed field.
MALFORMED_COMMANDS = {
    "CreateAccount": xs.CreateAccountRequest(order_id="not-a-uuid"),
    "CreateTrade": xs.CreateTradeRequest(order_id="not-a-uuid", asset="DOGE_USDC"),
    "CloseTrade": xs.CloseTradeRequest(order_id="not-a-uuid", trade_id="../etc"),
    "PlaceOrder": xs.PlaceOrderRequest(order_id="not-a-uuid", asset="DOGE_USDC"),
    "CancelOrder": xs.CancelOrderRequest(order_id="not-a-uuid", trade_id="../etc"),
    "ModifyTrade": xs.ModifyTradeRequest(order_id="not-a-uuid", trade_id="../etc"),
}


@pytest.mark.parametrize("method", list(MALFORMED_COMMANDS))
async def test_a_command_is_authenticated_before_it_is_read(
    method: str, exchange: ExchangeStub, clock: FakeClock
) -> None:
    """A caller without a valid session learns nothing about its request: the refusal is
    UNAUTHENTICATED, not the order id's or a field's INVALID_ARGUMENT."""
    call = getattr(exchange, method)
    for metadata in ((), bearer(BAD_TOKENS["forged"](clock))):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(MALFORMED_COMMANDS[method], metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, info.value.details()
        assert info.value.details() == SESSION_REJECTED
        assert "x-order-id" not in trailers(info.value)
    # A valid order id makes no difference either: the same answer, no id echoed.
    request = type(MALFORMED_COMMANDS[method])(order_id=ORDER_ID)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(request, metadata=())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-order-id" not in trailers(info.value)


async def test_a_well_made_token_is_accepted(
    exchange: ExchangeStub, clock: FakeClock, engine: FakeEngine
) -> None:
    """The control for the table above: the same claims, properly signed, get through auth."""
    token = jwt.encode(session_claims(clock), AUTH_SECRET, algorithm="HS256")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=bearer(token))
    assert trailers(info.value)["x-error-code"] == "ACCOUNT_NOT_FOUND"  # engine reached


async def test_session_expires_after_seven_days(
    exchange: ExchangeStub, auth: AuthStub, mailer: CapturingMailer, clock: FakeClock
) -> None:
    reply = await sign_in(auth, mailer, "bob@example.com")
    assert reply.expires_in_s == 7 * 24 * 3600
    await exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=bearer(reply.session_token))
    clock.advance(7 * 24 * 3600)
    await expect_unauthenticated(exchange, bearer(reply.session_token))


async def test_sign_out_revokes_that_session_only(
    exchange: ExchangeStub, auth: AuthStub, mailer: CapturingMailer
) -> None:
    first = await sign_in(auth, mailer, "carol@example.com")
    second = await sign_in(auth, mailer, "carol@example.com")
    await auth.SignOut(au.SignOutRequest(), metadata=bearer(first.session_token))
    await expect_unauthenticated(exchange, bearer(first.session_token))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.SignOut(au.SignOutRequest(), metadata=bearer(first.session_token))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    balance = await exchange.GetUsdBalance(
        xs.GetUsdBalanceRequest(), metadata=bearer(second.session_token)
    )
    assert balance.balance.usd_balance.units == 50_000_000


async def test_sign_in_creates_user_and_engine_account_once(
    auth: AuthStub, mailer: CapturingMailer, engine: FakeEngine
) -> None:
    first = await sign_in(auth, mailer, "Dave@Example.com")
    again = await sign_in(auth, mailer, "dave@example.com")
    assert first.new_user and not again.new_user
    assert first.user_id == again.user_id and first.email == "dave@example.com"
    creates = [c for c in engine.commands if c.WhichOneof("body") == "create_account"]
    # The second sign-in re-sends the same order id: the engine treats it as a retry.
    assert len({c.order_id for c in creates}) == 1
    assert creates[0].user_id == first.user_id and creates[0].email == "dave@example.com"


async def test_email_link_works_once(auth: AuthStub, mailer: CapturingMailer) -> None:
    await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="erin@example.com"))
    token = mailer.token_for("erin@example.com")
    await auth.CompleteSignIn(au.CompleteSignInRequest(token=token))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.CompleteSignIn(au.CompleteSignInRequest(token=token))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_email_link_expires_after_fifteen_minutes(
    auth: AuthStub, mailer: CapturingMailer, clock: FakeClock
) -> None:
    await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="frank@example.com"))
    clock.advance(15 * 60)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.CompleteSignIn(
            au.CompleteSignInRequest(token=mailer.token_for("frank@example.com"))
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_session_token_is_not_a_sign_in_link(auth: AuthStub, mailer: CapturingMailer) -> None:
    reply = await sign_in(auth, mailer, "grace@example.com")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.CompleteSignIn(au.CompleteSignInRequest(token=reply.session_token))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_known_and_unknown_addresses_get_the_same_answer(
    auth: AuthStub, mailer: CapturingMailer
) -> None:
    await sign_in(auth, mailer, "known@example.com")
    answers = []
    for email, signup in (
        ("known@example.com", False),
        ("nobody@example.com", False),
        ("known@example.com", True),
        ("nobody@example.com", True),
    ):
        call = auth.RequestSignInLink(au.RequestSignInLinkRequest(email=email, signup=signup))
        reply = await call
        answers.append((reply.SerializeToString(), await call.code(), await call.details()))
    assert len(set(answers)) == 1
    assert au.RequestSignInLinkResponse.FromString(answers[0][0]).message == (
        "successfully sent email"
    )


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at-sign",
        "a@b@c",
        "sp ace@example.com",
        "x" * 250 + "@example.com",
        "line\r\nbreak@example.com",
    ],
)
async def test_bad_email_is_invalid_argument(auth: AuthStub, email: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.RequestSignInLink(au.RequestSignInLinkRequest(email=email))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("email")


async def test_signup_mail_arrives_over_smtp_with_a_working_link(
    settings: Settings, redis: Any, db: Database, engine: FakeEngine
) -> None:
    received: list[tuple[list[str], str]] = []

    class Catcher:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            message = message_from_bytes(envelope.content)
            received.append((list(envelope.rcpt_tos), message.get_payload(decode=True).decode()))
            return "250 OK"

    smtp_port = free_port()
    controller = Controller(Catcher(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    smtp_settings = _with(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        smtp_from="exchange@example.com",
    )
    handle = await serve(
        smtp_settings, redis, db, port=0, host="127.0.0.1", mailer=Mailer(smtp_settings)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            stub = AuthStub(channel)
            reply = await stub.RequestSignInLink(
                au.RequestSignInLinkRequest(email="heidi@example.com", signup=True)
            )
            assert reply.message == "successfully sent email"
            assert received and received[0][0] == ["heidi@example.com"]
            body = received[0][1]
            prefix = "http://gateway.test/api/v1/user/signin/post?token="
            link = next(word for word in body.split() if word.startswith(prefix))
            done = await stub.CompleteSignIn(
                au.CompleteSignInRequest(token=link.removeprefix(prefix))
            )
            assert done.email == "heidi@example.com" and done.new_user
    finally:
        await handle.stop(1.0)
        controller.stop()


async def test_unreachable_smtp_is_an_error_not_a_lie(
    settings: Settings, redis: Any, db: Database
) -> None:
    broken = _with(settings, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    handle = await serve(broken, redis, db, port=0, host="127.0.0.1", mailer=Mailer(broken))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await AuthStub(channel).RequestSignInLink(
                    au.RequestSignInLinkRequest(email="ivan@example.com")
                )
            assert info.value.code() == grpc.StatusCode.INTERNAL
    finally:
        await handle.stop(1.0)


async def test_link_requests_are_rate_limited_per_address(
    auth: AuthStub, mailer: CapturingMailer
) -> None:
    for _ in range(10):
        await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="judy@example.com"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="judy@example.com"))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailers(info.value)["x-error-code"] == "RATE_LIMITED"
    await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="other@example.com"))


def test_handmade_tokens_are_really_jwts() -> None:
    """Guards the test table: the hand-built tokens parse as JWTs, so a refusal is the
    server's doing, not a malformed fixture."""
    token = handmade({"alg": "HS256", "typ": "JWT"}, {"a": 1}, AUTH_SECRET.encode())
    assert jwt.decode(token, AUTH_SECRET, algorithms=["HS256"]) == {"a": 1}
