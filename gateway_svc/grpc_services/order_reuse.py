"""Whether a state-changing command was answered with another command's first answer.

The engine remembers each (user, order id)'s first answer and gives it to any later command
under that order id, changing nothing: a retry wants exactly that. A different command under a
used order id (another trade to close, another level to set) must not get it as if it had been
done, so the answer is compared with everything the request asked for; what differs was asked
by another command. Only what the answer shows can be compared, and each answer shows the
trade as the command left it: every field a request sets is there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchange.v1 import responses_pb2, types_pb2
from google.protobuf.message import Message


def answers_another_command(
    body_field: str, body: Message, result: responses_pb2.CommandResult
) -> bool:
    """True when `result`, a successful answer, cannot be the answer of `body`."""
    expected = _CHECKS.get(body_field)
    if expected is None:
        return False
    answer_field, check = expected
    answered = result.WhichOneof("data")
    if answered != answer_field:
        return answered is not None  # another kind of command's answer (a CREATE_ACCOUNT's)
    return not check(body, getattr(result, answered).trade)


def same_amount(a: types_pb2.Decimal, b: types_pb2.Decimal) -> bool:
    scale = max(a.scale, b.scale)
    return a.units * 10 ** (scale - a.scale) == b.units * 10 ** (scale - b.scale)


def _same_optional(asked: Any, trade: Any, field: str) -> bool:
    """An optional amount the request sets or leaves out, as the trade has it."""
    if not asked.HasField(field):
        return not trade.HasField(field)
    return trade.HasField(field) and same_amount(getattr(asked, field), getattr(trade, field))


def _same_stops(asked: Any, trade: Any) -> bool:
    """Stop loss (or trailing stop, whose stop the trade shows as its stop loss) and take
    profit, as a new trade or order asks for them."""
    if asked.HasField("trailing_stop_distance"):
        stop = _same_optional(asked, trade, "trailing_stop_distance")
    else:
        stop = not trade.HasField("trailing_stop_distance") and _same_optional(
            asked, trade, "stop_loss_price"
        )
    return stop and _same_optional(asked, trade, "take_profit_price")


def _same_position(asked: Any, trade: Any) -> bool:
    return (
        trade.asset == asked.asset
        and trade.direction == asked.direction
        and trade.leverage == asked.leverage
        and same_amount(trade.margin, asked.margin)
        and _same_stops(asked, trade)
    )


def _place_order(asked: Any, trade: Any) -> bool:
    return (
        _same_position(asked, trade)
        and trade.order_type == asked.order_type
        and same_amount(trade.order_price, asked.price)
        and trade.HasField("expires_at_ms") == asked.HasField("expires_at_ms")
        and trade.expires_at_ms == asked.expires_at_ms
    )


def _close_trade(asked: Any, trade: Any) -> bool:
    if trade.trade_id != asked.trade_id:
        return False
    # A part's answer shows the part's margin; closing all of it by naming its margin is a
    # whole close, which shows that margin too.
    if asked.HasField("margin"):
        return same_amount(trade.margin, asked.margin)
    return not trade.partial


def _cancel_order(asked: Any, trade: Any) -> bool:
    return bool(trade.trade_id == asked.trade_id)


def _changed_level(asked: Any, trade: Any, field: str) -> bool:
    """A MODIFY_TRADE level: absent keeps it (anything goes), present with a value sets it,
    present without one removes it."""
    if not asked.HasField(field):
        return True
    change = getattr(asked, field)
    if change.HasField("value"):
        return trade.HasField(field) and same_amount(change.value, getattr(trade, field))
    return not trade.HasField(field)


def _modify_trade(asked: Any, trade: Any) -> bool:
    if trade.trade_id != asked.trade_id:
        return False
    if asked.stop_loss_price.HasField("value"):
        # A fixed stop removes a trailing one, whose stop the trade would also show as its
        # stop loss: the same number with a trail still on is another command's answer.
        stop_loss = _changed_level(asked, trade, "stop_loss_price") and not trade.HasField(
            "trailing_stop_distance"
        )
    else:
        stop_loss = _changed_level(asked, trade, "stop_loss_price") or (
            # Removing the fixed stop keeps a trailing one, shown as the stop loss.
            asked.HasField("stop_loss_price") and trade.HasField("trailing_stop_distance")
        )
    price = not asked.HasField("price") or same_amount(trade.order_price, asked.price)
    expiry = not asked.HasField("expires_at") or (
        trade.HasField("expires_at_ms") == asked.expires_at.HasField("expires_at_ms")
        and trade.expires_at_ms == asked.expires_at.expires_at_ms
    )
    return (
        stop_loss
        and _changed_level(asked, trade, "take_profit_price")
        and _changed_level(asked, trade, "trailing_stop_distance")
        and price
        and expiry
    )


# Each command's answer field, and how that answer shows the command that got it.
_CHECKS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "create_trade": ("trade_opened", _same_position),
    "place_order": ("order_placed", _place_order),
    "close_trade": ("trade_closed", _close_trade),
    "cancel_order": ("order_cancelled", _cancel_order),
    "modify_trade": ("trade_modified", _modify_trade),
}
