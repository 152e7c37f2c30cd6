"""One key per mailbox, for limits: `Alice+promo@Example.com` and `alice@example.com` reach the
same inbox, so they share the per-e-mail limits and the sign-up cap.

Only limiter keys are folded: the address a user typed is the one we store and mail to.
Dots are left alone (they are significant at most providers, only ignored at some).
"""

from __future__ import annotations

TAG_SEPARATOR = "+"


def mailbox_key(email: str) -> str:
    """The address without its `+tag`, lower-cased: `A.B+x@Ex.com` -> `a.b@ex.com`."""
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return email.strip().lower()
    base = local.split(TAG_SEPARATOR, 1)[0] or local  # "+only@x" has no base: keep it whole
    return f"{base.lower()}@{domain.lower()}"
