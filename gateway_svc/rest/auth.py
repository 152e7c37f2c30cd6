"""Session tokens at the edge: where they come from, and a cheap local check.

The gRPC server is the authority (it also knows about revoked sessions). The facade only
refuses what can never be valid: no token, a token that is not a JWT, or one whose HMAC does
not verify with AUTH_JWT_SECRET or that has expired. Such requests never reach gRPC.
"""

from __future__ import annotations

import re
import time

import jwt
from starlette.requests import HTTPConnection

from gateway_svc.errors import ApiError
from mesh.config import Settings

COOKIE_NAME = "authToken"
SESSION_MAX_AGE_S = 7 * 24 * 3600
# Three base64url segments; also keeps the value safe to put in gRPC metadata.
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_MAX_TOKEN_CHARS = 4096
# Pinned like the gRPC server's signer (gateway_svc.auth.tokens): "none", RS256 and the rest
# are refused before any signature is looked at.
_ALGORITHMS = ["HS256"]
_LEEWAY_S = 30
# Tokens whose signature already verified, with the time they stop being valid: a client
# sends the same token on every call, and HMAC-verifying it each time was a tenth of the
# facade's CPU. Keyed by the secret too (tests run apps with different ones); cleared when
# full, so it cannot grow without bound.
_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str], float] = {}


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer <jwt>` header, if the request has one."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def token_from(conn: HTTPConnection) -> str | None:
    """`Authorization: Bearer <jwt>` first (an explicit client choice), then the cookie."""
    return bearer_token(conn) or conn.cookies.get(COOKIE_NAME) or None


def check_token(token: str | None, settings: Settings) -> str:
    """Return the token if it may be valid, else raise UNAUTHENTICATED."""
    if not token:
        raise ApiError("UNAUTHENTICATED", "sign in first: no session token", field="authToken")
    if len(token) > _MAX_TOKEN_CHARS or not _JWT_SHAPE.match(token):
        raise ApiError("UNAUTHENTICATED", "session token is malformed", field="authToken")
    key = (settings.auth_jwt_secret, token)
    valid_until = _verified.get(key)
    if valid_until is not None and time.time() < valid_until:
        return token
    try:
        claims = jwt.decode(
            token,
            settings.auth_jwt_secret,
            algorithms=_ALGORITHMS,
            options={"verify_aud": False},
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise ApiError("UNAUTHENTICATED", "session expired: sign in again", "authToken") from None
    except jwt.PyJWTError:
        raise ApiError("UNAUTHENTICATED", "session token is invalid", field="authToken") from None
    expires = claims.get("exp")
    if isinstance(expires, int | float):
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key] = expires + _LEEWAY_S
    return token


def auth_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def require_token(conn: HTTPConnection, settings: Settings) -> str:
    return check_token(token_from(conn), settings)
