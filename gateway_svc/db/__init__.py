"""The Postgres audit trail: users, orders, trades, the event ledger, candles, auth tokens."""

from gateway_svc.db.database import Database, is_transient, normalize_email
from gateway_svc.db.pages import InvalidPageToken
from gateway_svc.db.rows import CandleRow, OrderRow, TradeRow, UserRow

__all__ = [
    "CandleRow",
    "Database",
    "InvalidPageToken",
    "OrderRow",
    "TradeRow",
    "UserRow",
    "is_transient",
    "normalize_email",
]
