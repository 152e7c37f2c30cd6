"""Signed JWTs for sessions and for e-mail sign-in links.

HS256 only, pinned on decode: a token whose header names any other algorithm ("none", RS256
with a public key passed off as an HMAC secret, HS512...) is refused before its signature is
looked at. Each kind has its own secret and audience, so an e-mail token can never be used as a
session and the reverse. Time comes from an injected clock; PyJWT's own time checks are turned
off so tests can move the clock and the server has one notion of "now".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "cfd-exchange-gateway"
SESSION_AUDIENCE = "exchange-session"
EMAIL_AUDIENCE = "exchange-email"
SESSION_TTL_S = 7 * 24 * 3600
EMAIL_TTL_S = 15 * 60
# Tolerated clock skew between gateway instances for "issued in the future".
LEEWAY_S = 30

Clock = Callable[[], float]
"""Seconds since the epoch; `time.time` in production."""

_REQUIRED = ["sub", "email", "aud", "iss", "iat", "exp", "jti"]


class InvalidToken(Exception):
    """Why a token was refused: for the server log only, never for the caller."""


@dataclass(frozen=True)
class Claims:
    sub: str
    email: str
    jti: str
    iat: int
    exp: int
    issued_at_ms: int
    """When it was issued, in ms (the `iat_ms` claim): sign-out-everywhere's cutoff is in ms,
    so a token issued in the cutoff's own second, after it, must be told apart. A token from
    before the claim existed counts from the start of its `iat` second (revoked with it)."""


class TokenSigner:
    def __init__(self, secret: str, audience: str, ttl_s: int, clock: Clock = time.time) -> None:
        if not secret:
            raise ValueError(f"a secret is required for {audience} tokens")
        self._secret = secret
        self.audience = audience
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, sub: str, email: str, **extra: Any) -> tuple[str, Claims]:
        now_ms = int(self._clock() * 1000)
        now = now_ms // 1000
        claims = Claims(
            sub=sub, email=email, jti=uuid.uuid4().hex, iat=now, exp=now + self.ttl_s,
            issued_at_ms=now_ms,
        )  # fmt: skip
        payload = {
            **extra,
            "sub": claims.sub,
            "email": claims.email,
            "aud": self.audience,
            "iss": ISSUER,
            "iat": claims.iat,
            "iat_ms": claims.issued_at_ms,
            "exp": claims.exp,
            "jti": claims.jti,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def verify(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
        claims = _claims(payload)
        now = self._clock()
        if claims.exp <= now:
            raise InvalidToken("expired")
        if claims.iat > now + LEEWAY_S:
            raise InvalidToken("issued in the future")
        if claims.exp - claims.iat > self.ttl_s:
            raise InvalidToken("lifetime longer than this kind of token allows")
        return claims


def _claims(payload: dict[str, Any]) -> Claims:
    sub, email, jti = payload.get("sub"), payload.get("email"), payload.get("jti")
    iat, exp = payload.get("iat"), payload.get("exp")
    if not (isinstance(sub, str) and sub and isinstance(email, str) and email):
        raise InvalidToken("sub/email missing")
    if not (isinstance(jti, str) and 0 < len(jti) <= 128):
        raise InvalidToken("jti missing")
    # bool is an int in Python; a JSON `true` is not a time.
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
        raise InvalidToken("iat/exp are not integers")
    assert isinstance(iat, int) and isinstance(exp, int)
    issued_at_ms = payload.get("iat_ms", iat * 1000)
    if not (
        isinstance(issued_at_ms, int)
        and not isinstance(issued_at_ms, bool)
        and issued_at_ms // 1000 == iat
    ):
        raise InvalidToken("iat_ms is not an integer within the iat second")
    return Claims(sub=sub, email=email, jti=jti, iat=iat, exp=exp, issued_at_ms=issued_at_ms)
