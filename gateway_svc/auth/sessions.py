"""Sessions: issue a session JWT, authenticate a call from its metadata, sign out.

Every failure answers UNAUTHENTICATED with one generic message, whatever went wrong (no token,
bad signature, wrong algorithm or audience, expired, revoked): a caller learns nothing about
which check failed. The reason goes to the server log at INFO.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from exchange.v1.sessions_pb2 import SessionRevocation

from gateway_svc.auth.revocations import Revocations
from gateway_svc.auth.tokens import (
    SESSION_AUDIENCE,
    SESSION_TTL_S,
    Claims,
    Clock,
    InvalidToken,
    TokenSigner,
)
from gateway_svc.errors import ApiError
from mesh import streams

log = logging.getLogger(__name__)

SESSION_REJECTED = "a valid session token is required: sign in again"
SIGN_OUT_FAILED = "sign-out could not be recorded, so the session is still valid: try again"
MAX_TOKEN_CHARS = 4096
# Tokens whose signature was checked already; a few per active user, oldest dropped first.
VERIFIED_CACHE_SIZE = 10_000


class SessionStore(Protocol):
    """The durable copy of the revocations (Postgres)."""

    async def revoke_session(self, jti: str, expires_at_ms: int) -> None: ...
    async def revoke_sessions_before(
        self, user_id: str, issued_before_ms: int, expires_at_ms: int
    ) -> None: ...


@dataclass(frozen=True)
class Principal:
    """The signed-in caller. `exp` is the session's expiry, seconds since the epoch, and
    `issued_at_ms` its issue time, ms since the epoch."""

    user_id: str
    email: str
    jti: str
    exp: int
    issued_at_ms: int = 0


def rejected() -> ApiError:
    return ApiError("UNAUTHENTICATED", SESSION_REJECTED, "authorization")  # the metadata key


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
    """Verifies a session from its token alone plus the in-memory revocations: no database
    and no Redis on the way in. Sign-out writes Postgres and the revocation stream, and fails
    closed: if either write fails the caller hears so, and the token stays valid here too."""

    def __init__(
        self,
        secret: str,
        store: SessionStore,
        revocations: Revocations,
        redis: aioredis.Redis,
        clock: Clock = time.time,
    ) -> None:
        self._signer = TokenSigner(secret, SESSION_AUDIENCE, SESSION_TTL_S, clock)
        self._store = store
        self._revocations = revocations
        self._redis = redis
        self._clock = clock
        self._verified: dict[str, Claims] = {}
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
        claims = self._verify(token)
        if not self._revocations.loaded:
            # Fail closed: until the durable copy is read, a signed-out token could get in.
            raise ApiError("ENGINE_UNAVAILABLE", "sessions cannot be checked yet: try again")
        if self._revocations.is_revoked(claims.jti, claims.sub, claims.issued_at_ms):
            log.info("auth: session %s was signed out", claims.jti)
            raise rejected()
        return Principal(claims.sub, claims.email, claims.jti, claims.exp, claims.issued_at_ms)

    def _verify(self, token: str) -> Claims:
        """The token's claims. A token verified before is not verified again (HMAC and JSON
        are most of the cost of a call's auth); only its expiry is re-checked."""
        claims = self._verified.get(token)
        if claims is not None:
            if claims.exp > self._clock():
                return claims
            del self._verified[token]
        try:
            claims = self._signer.verify(token)
        except InvalidToken as exc:
            log.info("auth: session token refused: %s", exc)
            raise rejected() from None
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[token] = claims
        return claims

    def signed_out_everywhere_since(self, user_id: str, issued_at_ms: int) -> bool:
        """The user signed out everywhere after `issued_at_ms`: what was issued to them before
        (a session, or a sign-in link still in their inbox) no longer lets anyone in."""
        if not self._revocations.loaded:  # fail closed, as authenticate does
            raise ApiError("ENGINE_UNAVAILABLE", "sessions cannot be checked yet: try again")
        return self._revocations.is_revoked("", user_id, issued_at_ms)

    def still_valid(self, principal: Principal) -> bool:
        """For long-lived streams: the session has neither expired nor been signed out."""
        if principal.exp <= self._clock():
            return False
        return not self._revocations.is_revoked(
            principal.jti, principal.user_id, principal.issued_at_ms
        )

    def seconds_left(self, principal: Principal) -> float:
        return principal.exp - self._clock()

    async def sign_out(self, principal: Principal) -> None:
        """Revoke this session everywhere; ENGINE_UNAVAILABLE if it could not be recorded."""
        revocation = SessionRevocation(jti=principal.jti, expires_at_ms=principal.exp * 1000)
        await self._revoke(
            revocation, self._store.revoke_session(principal.jti, principal.exp * 1000)
        )

    async def sign_out_everywhere(self, principal: Principal) -> int:
        """Revoke every session of the user issued until now; the cutoff, ms since the epoch."""
        now_ms = int(self._clock() * 1000)
        # Past this no token issued before the cutoff can still be valid.
        expires_ms = now_ms + self.ttl_s * 1000
        revocation = SessionRevocation(
            user_id=principal.user_id, issued_before_ms=now_ms, expires_at_ms=expires_ms
        )
        write = self._store.revoke_sessions_before(principal.user_id, now_ms, expires_ms)
        await self._revoke(revocation, write)
        return now_ms

    async def _revoke(self, revocation: SessionRevocation, durable: Awaitable[None]) -> None:
        try:
            await durable
        except Exception:
            log.exception("auth: sign-out not stored in postgres")
            raise ApiError("ENGINE_UNAVAILABLE", SIGN_OUT_FAILED) from None
        try:
            await self._redis.xadd(
                streams.REVOCATIONS,
                {streams.PAYLOAD: revocation.SerializeToString()},
                maxlen=streams.MAXLEN_REVOCATIONS,
                approximate=True,
            )
        except Exception:
            # Stored, but the other gateway processes would not learn of it until they
            # restart: not signed out yet, and a retry repeats both writes harmlessly.
            log.exception("auth: sign-out not published on %s", streams.REVOCATIONS)
            raise ApiError("ENGINE_UNAVAILABLE", SIGN_OUT_FAILED) from None
        self._revocations.add(revocation)
