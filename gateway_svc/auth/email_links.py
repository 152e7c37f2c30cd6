"""One-time e-mail sign-in links: a 15-minute JWT signed with EMAIL_JWT_SECRET, good once.

"Once" is kept in Postgres (db.use_email_token), so it holds across gateway instances and
restarts. The link is redeemed before anything else happens with it, so two concurrent clicks
cannot both sign in.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol
from urllib.parse import quote

from gateway_svc.auth.tokens import (
    EMAIL_AUDIENCE,
    EMAIL_TTL_S,
    Claims,
    Clock,
    InvalidToken,
    TokenSigner,
)
from gateway_svc.errors import ApiError

log = logging.getLogger(__name__)

LINK_REJECTED = "this sign-in link is invalid, expired or already used: request a new one"
SIGN_IN_PATH = "/api/v1/user/signin/post"
MAX_TOKEN_CHARS = 4096


class EmailTokenStore(Protocol):
    async def use_email_token(self, jti: str, expires_at_ms: int) -> bool: ...


class EmailLinks:
    def __init__(
        self, secret: str, store: EmailTokenStore, backend_url: str, clock: Clock = time.time
    ) -> None:
        self._signer = TokenSigner(secret, EMAIL_AUDIENCE, EMAIL_TTL_S, clock)
        self._store = store
        self._backend_url = backend_url.rstrip("/")

    def issue(self, email: str) -> tuple[str, str]:
        """(token, the link to mail) for an already validated, normalized address."""
        token, _ = self._signer.issue(email, email)
        return token, f"{self._backend_url}{SIGN_IN_PATH}?token={quote(token, safe='')}"

    async def redeem(self, token: str) -> Claims:
        """The link's claims (`email`: the address it was sent to; `issued_at_ms`);
        UNAUTHENTICATED if the token is not valid or was used before."""
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise ApiError("UNAUTHENTICATED", LINK_REJECTED)
        try:
            claims = self._signer.verify(token)
        except InvalidToken as exc:
            log.info("auth: sign-in link refused: %s", exc)
            raise ApiError("UNAUTHENTICATED", LINK_REJECTED) from None
        if not await self._store.use_email_token(claims.jti, claims.exp * 1000):
            log.info("auth: sign-in link %s used again", claims.jti)
            raise ApiError("UNAUTHENTICATED", LINK_REJECTED)
        return claims
