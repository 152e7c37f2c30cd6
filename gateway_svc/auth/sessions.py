"""Sessions: issue a session JWT, authenticate a call from its metadata, sign out.

Every failure answers UNAUTHENTICATED with one generic message, whatever went wrong (no token,
bad signature, wrong algorithm or audience, expired, revoked): a caller learns nothing about
which check failed. The reason goes to the server log at INFO.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway_svc.auth.tokens import (
    SESSION_AUDIENCE,
    SESSION_TTL_S,
    Clock,
    InvalidToken,
    TokenSigner,
)
from gateway_svc.errors import ApiError

log = logging.getLogger(__name__)

SESSION_REJECTED = "a valid session token is required: sign in again"
MAX_TOKEN_CHARS = 4096


class SessionStore(Protocol):
    async def revoke_session(self, jti: str, expires_at_ms: int) -> None: ...
    async def is_session_revoked(self, jti: str) -> bool: ...


@dataclass(frozen=True)
class Principal:
    """The signed-in caller. `exp` is the session's expiry, seconds since the epoch."""

    user_id: str
    email: str
    jti: str
    exp: int


def rejected() -> ApiError:
    return ApiError("UNAUTHENTICATED", SESSION_REJECTED)


def bearer_token(metadata: Iterable[Any] | None) -> str | None:
    """The token of the one `authorization: Bearer <jwt>` entry; None if absent or ambiguous."""
    values = [value for key, value in (metadata or ()) if key.lower() == "authorization"]
    if len(values) != 1:
        return None
    value = values[0].decode("ascii", "replace") if isinstance(values[0], bytes) else values[0]
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return token


class Sessions:
    def __init__(self, secret: str, store: SessionStore, clock: Clock = time.time) -> None:
        self._signer = TokenSigner(secret, SESSION_AUDIENCE, SESSION_TTL_S, clock)
        self._store = store
        self._clock = clock
        self.ttl_s = SESSION_TTL_S

    def issue(self, user_id: str, email: str) -> tuple[str, int]:
        """(token, expiry in seconds since the epoch)."""
        token, claims = self._signer.issue(user_id, email)
        return token, claims.exp

    async def authenticate(self, metadata: Iterable[Any] | None) -> Principal:
        token = bearer_token(metadata)
        if token is None:
            log.info("auth: no usable bearer token")
            raise rejected()
        try:
            claims = self._signer.verify(token)
        except InvalidToken as exc:
            log.info("auth: session token refused: %s", exc)
            raise rejected() from None
        try:
            revoked = await self._store.is_session_revoked(claims.jti)
        except Exception:
            # Fail closed: without the revocation list a signed-out token could get through.
            log.exception("auth: cannot check revocation of session %s", claims.jti)
            raise ApiError("INTERNAL") from None
        if revoked:
            log.info("auth: session %s was signed out", claims.jti)
            raise rejected()
        return Principal(user_id=claims.sub, email=claims.email, jti=claims.jti, exp=claims.exp)

    async def still_valid(self, principal: Principal) -> bool:
        """For long-lived streams: the session has neither expired nor been signed out."""
        if principal.exp <= self._clock():
            return False
        try:
            return not await self._store.is_session_revoked(principal.jti)
        except Exception as exc:
            log.warning("auth: cannot re-check session %s: %r", principal.jti, exc)
            return True  # keep an open stream through a database blip; checked again later

    def seconds_left(self, principal: Principal) -> float:
        return principal.exp - self._clock()

    async def sign_out(self, principal: Principal) -> None:
        await self._store.revoke_session(principal.jti, principal.exp * 1000)
