"""Authentication: session JWTs and their revocations, one-time e-mail sign-in links, and
sign-in rate limits."""

from gateway_svc.auth.email_links import LINK_REJECTED, EmailLinks
from gateway_svc.auth.limits import SignInLinkLimits, address_key
from gateway_svc.auth.revocations import Revocations
from gateway_svc.auth.sessions import SESSION_REJECTED, Principal, Sessions, bearer_token
from gateway_svc.auth.tokens import (
    ALGORITHM,
    EMAIL_AUDIENCE,
    EMAIL_TTL_S,
    ISSUER,
    SESSION_AUDIENCE,
    SESSION_TTL_S,
    Clock,
    InvalidToken,
    TokenSigner,
)

__all__ = [
    "ALGORITHM",
    "EMAIL_AUDIENCE",
    "EMAIL_TTL_S",
    "ISSUER",
    "LINK_REJECTED",
    "SESSION_AUDIENCE",
    "SESSION_REJECTED",
    "SESSION_TTL_S",
    "Clock",
    "EmailLinks",
    "InvalidToken",
    "Principal",
    "Revocations",
    "Sessions",
    "SignInLinkLimits",
    "TokenSigner",
    "address_key",
    "bearer_token",
]
