"""What a command on a trade that has already ended is told.

The engine forgets a trade once it ends, so it answers a later CLOSE_TRADE, MODIFY_TRADE or
CANCEL_ORDER on it with TRADE_NOT_FOUND; the ledger still knows how it ended, and the caller
is told that instead (toolset_servicer) once the ledger has the end. The audit trail keeps the
engine's answer in its row, and ListOrders shows such a row with how that trade had ended
(`convert.order`), through this one rule: what the caller was told, unless the ledger did not
have the end yet when it answered (then the caller had the bare "not found").
"""

from __future__ import annotations

from gateway_svc.db.trade_ledger import LIVE_STATUSES
from gateway_svc.errors import ApiError

ORDER_ENDS = frozenset({"CANCELLED", "EXPIRED", "REJECTED"})
"""How a pending order ends unfilled; any other end (CLOSED, LIQUIDATED, ...) is a trade's."""


def has_ended(status: str | None) -> bool:
    """Whether the ledger's `status` of a trade (None: no row) is an end."""
    return status is not None and status not in LIVE_STATUSES


def ended_rejection(command: str, status: str) -> ApiError:
    """`command` (the REST name: CANCEL_ORDER, ...) on a trade that ended as `status`.

    SPEC 3a: CANCEL_ORDER on a trade that is not PENDING is a 400 (NOT_PENDING); a close or a
    change of a trade that has ended stays the seed's 404 (TRADE_NOT_FOUND), saying how it
    ended, so a trader whose click met a stop loss or a liquidation learns why."""
    code = "NOT_PENDING" if command == "CANCEL_ORDER" else "TRADE_NOT_FOUND"
    noun = "order" if status in ORDER_ENDS else "trade"
    return ApiError(code, f"the {noun} has already ended: {status}", "trade_id")
