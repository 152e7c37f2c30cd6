"""`exchange.v1.AuthService`: e-mail-link sign-in, sign-out and sign-out everywhere.

RequestSignInLink never looks the address up: a new and a known address get the same mail
flow, the same answer and the same timing, so the API cannot be used to probe who has an
account. Link requests are rate-limited per address and per client (SIGNIN_LINKS_PER_EMAIL,
SIGNIN_LINKS_PER_CLIENT per SIGNIN_LINK_WINDOW_S, counted in Redis across every gateway
process), the client being the gRPC peer or, from a trusted proxy only, the address it
forwards (client_address.py), an IPv6 client by its /64. Without Redis no link is sent: the
limits could not hold.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc

from gateway_svc import validation
from gateway_svc.auth import EmailLinks, Sessions, SignInLinkLimits
from gateway_svc.auth.email_links import LINK_REJECTED
from gateway_svc.auth.signup_limits import SignupLimits
from gateway_svc.db import Database, UserRow
from gateway_svc.errors import ApiError
from gateway_svc.grpc_services.client_address import client_address
from gateway_svc.grpc_services.commands import Caller, CommandRunner
from gateway_svc.grpc_services.common import unary
from gateway_svc.mailer import Mailer, MailError
from gateway_svc.token_bucket import LIMITER_ERRORS, retry_after_s
from mesh.config import IpNetwork

log = logging.getLogger(__name__)

SENT_MESSAGE = "successfully sent email"
LIMITS_UNAVAILABLE = "sign-in links cannot be sent right now: try again in a minute"
SIGNUPS_UNAVAILABLE = "new accounts cannot be opened right now: try again in a minute"
# One fixed namespace: a user's CREATE_ACCOUNT always has the same order id, so the engine
# (and the orders audit) treat every later sign-in's attempt as a retry of the first.
_ACCOUNT_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4f6b-9a57-3c2d1e0b7a94")


def account_order_id(user_id: str) -> str:
    return str(uuid.uuid5(_ACCOUNT_NAMESPACE, f"create-account:{user_id}"))


class AuthServicer(auth_service_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        sessions: Sessions,
        links: EmailLinks,
        mailer: Mailer,
        db: Database,
        runner: CommandRunner,
        link_limits: SignInLinkLimits,
        trusted_proxies: Sequence[IpNetwork],
        signup_limits: SignupLimits | None = None,
    ) -> None:
        self._signup_limits = signup_limits
        self._sessions = sessions
        self._links = links
        self._mailer = mailer
        self._db = db
        self._runner = runner
        self._link_limits = link_limits
        self._trusted_proxies = tuple(trusted_proxies)

    @unary
    async def RequestSignInLink(self, request: Any, context: Any) -> Any:
        email = validation.email(request.email)
        client = client_address(
            context.invocation_metadata(), context.peer(), self._trusted_proxies
        )
        try:
            wait_s = await self._link_limits.take(email, client)
        except LIMITER_ERRORS as exc:
            log.warning("sign-in link refused: limits unavailable: %r", exc)
            raise ApiError("ENGINE_UNAVAILABLE", LIMITS_UNAVAILABLE) from None
        if wait_s:
            raise ApiError(
                "RATE_LIMITED",
                "too many sign-in link requests: try again later",
                retry_after_s=retry_after_s(wait_s),
            )
        _, link = self._links.issue(email)
        try:
            await self._mailer.send_sign_in_link(email, link, request.signup)
        except MailError:
            raise ApiError("INTERNAL", "could not send the e-mail: try again later") from None
        return au.RequestSignInLinkResponse(message=SENT_MESSAGE)

    @unary
    async def CompleteSignIn(self, request: Any, context: Any) -> Any:
        link = await self._links.redeem(request.token)
        email = link.email
        client = client_address(
            context.invocation_metadata(), context.peer(), self._trusted_proxies
        )
        known = await self._db.find_user_by_email(email)
        if known is None:
            await self._take_signup(email, client)
        elif self._sessions.signed_out_everywhere_since(known.id, link.issued_at_ms):
            # A link mailed before a sign-out everywhere is one of the things it revokes.
            log.info("auth: sign-in link %s predates user %s's sign-out", link.jti, known.id)
            raise ApiError("UNAUTHENTICATED", LINK_REJECTED)
        user, created = await self._db.get_or_create_user(email)
        await self._ensure_engine_account(user, created)
        token, _ = self._sessions.issue(user.id, user.email)
        log.info("user %s signed in%s", user.id, " (new)" if created else "")
        try:
            await self._link_limits.remember_sign_in(email, client)
        except LIMITER_ERRORS as exc:  # the sign-in stands; only the exemption is not kept
            log.warning("sign-in: its client not remembered for the link limit: %r", exc)
        return au.CompleteSignInResponse(
            session_token=token,
            user_id=user.id,
            email=user.email,
            new_user=created,
            expires_in_s=self._sessions.ttl_s,
        )

    @unary
    async def SignOut(self, request: Any, context: Any) -> Any:
        principal = await self._sessions.authenticate(context.invocation_metadata())
        await self._sessions.sign_out(principal)
        return au.SignOutResponse()

    @unary
    async def SignOutEverywhere(self, request: Any, context: Any) -> Any:
        principal = await self._sessions.authenticate(context.invocation_metadata())
        cutoff_ms = await self._sessions.sign_out_everywhere(principal)
        log.info("user %s signed out everywhere", principal.user_id)
        return au.SignOutEverywhereResponse(issued_before_ms=cutoff_ms)

    async def _take_signup(self, email: str, client: str) -> None:
        """A new account spends one of `client`'s and its mailbox's sign-ups of the day
        (SIGNUPS_PER_CLIENT_PER_DAY, SIGNUPS_PER_MAILBOX_PER_DAY); fails closed without Redis."""
        if self._signup_limits is None:
            return
        try:
            wait_s = await self._signup_limits.take(email, client)
        except LIMITER_ERRORS as exc:
            log.warning("sign-up refused: limits unavailable: %r", exc)
            raise ApiError("ENGINE_UNAVAILABLE", SIGNUPS_UNAVAILABLE) from None
        if wait_s:
            raise ApiError(
                "RATE_LIMITED",
                "too many new accounts from your address or mailbox today: try again tomorrow",
                retry_after_s=retry_after_s(wait_s),
            )

    async def _ensure_engine_account(self, user: UserRow, created: bool) -> None:
        """Every sign-in makes sure the engine has the account (ACCOUNT_EXISTS is fine): a
        first sign-in whose CREATE_ACCOUNT was lost to an engine outage heals on the next."""
        try:
            await self._runner.run(
                Caller(user.id, user.email), account_order_id(user.id), "create_account"
            )
        except ApiError as error:
            if error.spec.name == "ACCOUNT_EXISTS":
                return
            if created:
                raise  # a new user without an account could not trade: say so now
            log.warning("sign-in of %s: engine account not confirmed: %s", user.id, error)
