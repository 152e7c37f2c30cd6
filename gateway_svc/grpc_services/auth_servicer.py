"""`exchange.v1.AuthService`: e-mail-link sign-in and sign-out.

RequestSignInLink never looks the address up: a new and a known address get the same mail
flow, the same answer and the same timing, so the API cannot be used to probe who has an
account. Link requests are rate-limited per address and per client.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import grpc
from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc

from gateway_svc import validation
from gateway_svc.auth import EmailLinks, Sessions, SlidingWindowLimiter
from gateway_svc.db import Database, UserRow
from gateway_svc.errors import ApiError
from gateway_svc.grpc_services.commands import Caller, CommandRunner
from gateway_svc.grpc_services.common import unary
from gateway_svc.mailer import Mailer, MailError

log = logging.getLogger(__name__)

SENT_MESSAGE = "successfully sent email"
# One fixed namespace: a user's CREATE_ACCOUNT always has the same order id, so the engine
# (and the orders audit) treat every later sign-in's attempt as a retry of the first.
_ACCOUNT_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4f6b-9a57-3c2d1e0b7a94")

LINKS_PER_EMAIL = 10
LINKS_PER_CLIENT = 60
LINK_WINDOW_S = 15 * 60.0


def account_order_id(user_id: str) -> str:
    return str(uuid.uuid5(_ACCOUNT_NAMESPACE, f"create-account:{user_id}"))


def _client_key(context: grpc.aio.ServicerContext) -> str:
    """The REST facade passes the browser's address; direct gRPC clients are their peer."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-forwarded-for":
            text = value.decode() if isinstance(value, bytes) else str(value)
            return text.split(",")[0].strip()[:64]
    peer = context.peer() or "unknown"
    return peer.rsplit(":", 1)[0][:64]


class AuthServicer(auth_service_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        sessions: Sessions,
        links: EmailLinks,
        mailer: Mailer,
        db: Database,
        runner: CommandRunner,
        per_email: SlidingWindowLimiter | None = None,
        per_client: SlidingWindowLimiter | None = None,
    ) -> None:
        self._sessions = sessions
        self._links = links
        self._mailer = mailer
        self._db = db
        self._runner = runner
        self._per_email = per_email or SlidingWindowLimiter(LINKS_PER_EMAIL, LINK_WINDOW_S)
        self._per_client = per_client or SlidingWindowLimiter(LINKS_PER_CLIENT, LINK_WINDOW_S)

    @unary
    async def RequestSignInLink(self, request: Any, context: Any) -> Any:
        email = validation.email(request.email)
        if not self._per_client.allow(_client_key(context)) or not self._per_email.allow(email):
            raise ApiError("RATE_LIMITED", "too many sign-in link requests: try again later")
        _, link = self._links.issue(email)
        try:
            await self._mailer.send_sign_in_link(email, link, request.signup)
        except MailError:
            raise ApiError("INTERNAL", "could not send the e-mail: try again later") from None
        return au.RequestSignInLinkResponse(message=SENT_MESSAGE)

    @unary
    async def CompleteSignIn(self, request: Any, context: Any) -> Any:
        email = await self._links.redeem(request.token)
        user, created = await self._db.get_or_create_user(email)
        await self._ensure_engine_account(user, created)
        token, _ = self._sessions.issue(user.id, user.email)
        log.info("user %s signed in%s", user.id, " (new)" if created else "")
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
