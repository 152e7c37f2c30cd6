"""A cap on new accounts per client address and per mailbox a day, and `+tag` / case variants
of one mailbox sharing the per-e-mail link limit (gateway_svc/auth/signup_limits.py)."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc

from gateway_svc.auth.mailbox import mailbox_key
from gateway_svc.db import Database
from mesh.config import Settings
from tests.gateway_grpc.conftest import CapturingMailer, sign_in, trailers

AuthStub = auth_service_pb2_grpc.AuthServiceStub


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        signups_per_client_per_day=3,
        signups_per_mailbox_per_day=2,
        signin_links_per_email=3,
    )


async def refused_sign_in(auth: AuthStub, mailer: CapturingMailer, email: str) -> grpc.RpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await sign_in(auth, mailer, email)
    return raised.value


def assert_capped(error: grpc.aio.AioRpcError) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "too many new accounts" in (error.details() or "")
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    assert 1 <= int(trailers(error)["retry-after"]) <= 86_400


async def test_new_accounts_per_client_are_capped_and_returning_users_are_not(
    gateway: object, auth: AuthStub, mailer: CapturingMailer, db: Database
) -> None:
    for name in ("ann", "ben", "cat"):
        assert (await sign_in(auth, mailer, f"{name}@example.com")).new_user
    assert_capped(await refused_sign_in(auth, mailer, "dan@example.com"))
    assert await db.find_user_by_email("dan@example.com") is None
    # Signing in again is not a sign-up.
    again = await sign_in(auth, mailer, "ann@example.com")
    assert not again.new_user


async def test_tag_and_case_variants_are_one_mailbox_for_sign_ups(
    gateway: object, auth: AuthStub, mailer: CapturingMailer, db: Database
) -> None:
    first = await sign_in(auth, mailer, "eve+one@example.com")
    await sign_in(auth, mailer, "eve@example.com")
    assert_capped(await refused_sign_in(auth, mailer, "Eve+Three@Example.com"))
    # The user's own address is stored as given, tag and all: only the limiter folds it.
    assert first.email == "eve+one@example.com"
    assert (await db.find_user_by_email("eve+one@example.com")) is not None
    # Another mailbox from the same client still may (the client cap is 3).
    assert (await sign_in(auth, mailer, "fay@example.com")).new_user


async def test_tag_and_case_variants_share_the_link_limit(
    gateway: object, auth: AuthStub, mailer: CapturingMailer
) -> None:
    for email in ("gus+a@example.com", "GUS+b@example.com", "gus@EXAMPLE.com"):
        await auth.RequestSignInLink(au.RequestSignInLinkRequest(email=email))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await auth.RequestSignInLink(au.RequestSignInLinkRequest(email="gus+zzz@example.com"))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "sign-in link" in (raised.value.details() or "")
    # Mail still goes to the address as typed.
    assert [to for to, _, _ in mailer.sent] == [
        "gus+a@example.com",
        "gus+b@example.com",
        "gus@example.com",
    ]


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice+promo@Example.COM", "alice@example.com"),
        ("a.b+x+y@ex.com", "a.b@ex.com"),
        ("+only@ex.com", "+only@ex.com"),
        (" bob@ex.com ", "bob@ex.com"),
    ],
)
def test_mailbox_key(email: str, key: str) -> None:
    assert mailbox_key(email) == key
