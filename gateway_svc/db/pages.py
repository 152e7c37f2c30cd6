"""Keyset pagination: newest first on (time desc, id desc), with an opaque page token.

The token is the last row's key, so a page never skips or repeats rows even while new rows
arrive (they sort before the cursor). It is opaque to clients but not secret: the query still
filters on the caller's user_id, so a forged token can only move within the caller's own rows.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from gateway_svc.db.rows import ts_to_us, us_to_ts

MAX_PAGE = 200
_VERSION = "1"
# Row ids are UUID-shaped: a longer one, or one Postgres cannot take as text (a NUL), was
# not made here.
MAX_ROW_ID_CHARS = 64


class InvalidPageToken(ValueError):
    """The page token was not produced by this service (or is from an incompatible one)."""


def clamp_limit(limit: int) -> int:
    return max(1, min(MAX_PAGE, limit))


def encode_token(ts: datetime, row_id: str) -> str:
    key = f"{_VERSION}:{ts_to_us(ts)}:{row_id}".encode()
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> tuple[datetime, str]:
    """The (time, id) key after which the next page starts."""
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        version, micros, row_id = raw.split(":", 2)
        if version != _VERSION or not _row_id_shaped(row_id):
            raise ValueError(raw)
        return us_to_ts(int(micros)), row_id
    except (ValueError, UnicodeError, binascii.Error, OverflowError):
        raise InvalidPageToken("page_token is not valid") from None


def _row_id_shaped(row_id: str) -> bool:
    return 0 < len(row_id) <= MAX_ROW_ID_CHARS and row_id.isprintable()
