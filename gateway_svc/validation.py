"""Edge validation of gRPC requests: every field is checked here, once, before anything reaches
a stream, so servicers and the engine only ever see well-formed input.

Each failure is an `ApiError` whose message starts with the proto field it is about
("margin allows at most 4 decimals"), with the most specific registry code (INVALID_MARGIN,
UNKNOWN_ASSET, ...); all of them answer gRPC INVALID_ARGUMENT. Validated amounts come back as
integer units at the engine's scale: USD at 4 decimals, prices at the asset's decimals.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import types_pb2

from gateway_svc.errors import ApiError
from mesh.assets import ASSET_DECIMALS, SUPPORTED_ASSETS, USD_SCALE

LEVERAGE_MIN, LEVERAGE_MAX, LEVERAGE_DEFAULT = 10, 1000, 10
PAGE_MIN, PAGE_MAX, PAGE_DEFAULT = 1, 200, 50
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path
MAX_PAGE_TOKEN_CHARS = 512
# Far above any real margin or price, far below int64: they only stop abuse and overflow.
MAX_MARGIN_USD = 1_000_000_000
MAX_PRICE = 1_000_000_000
# A Decimal's scale is a uint32: 10**4_000_000_000 would hang the process, so cap it first.
MAX_SCALE = 18
MAX_TIME_MS = 10**13  # the year 2286

# Deliberately plain: dot-atom local part, hostname-shaped domain. Rejects spaces, control
# characters and anything that could smuggle a header into the sign-in mail.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MAX_LOCAL_PART = 64
# The 36-character form in ASCII only: uuid.UUID() alone also takes braces, "urn:uuid:" and
# other scripts' digits (int("\uff10", 16) == 0).
_UUID_RE = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)

DIRECTIONS = {types_pb2.DIRECTION_LONG: "LONG", types_pb2.DIRECTION_SHORT: "SHORT"}
CANDLE_INTERVALS_S = {
    xs.CANDLE_INTERVAL_1M: 60,
    xs.CANDLE_INTERVAL_5M: 300,
    xs.CANDLE_INTERVAL_15M: 900,
    xs.CANDLE_INTERVAL_1H: 3600,
    xs.CANDLE_INTERVAL_4H: 14400,
    xs.CANDLE_INTERVAL_1D: 86400,
}


@dataclass(frozen=True)
class TradeOrder:
    """A validated CreateTradeRequest, amounts in engine units."""

    order_id: str
    asset: str
    direction: int  # types_pb2.Direction, LONG or SHORT
    margin_units: int  # USD_SCALE
    leverage: int  # 10..1000
    stop_loss_units: int | None  # the asset's decimals
    take_profit_units: int | None


@dataclass(frozen=True)
class CandleQuery:
    asset: str
    interval_s: int
    start_ms: int | None
    end_ms: int | None


def exact_units(
    value: types_pb2.Decimal, scale: int, field: str, code: str, max_whole: int, unit: str = ""
) -> int:
    """`value` as integer units at `scale`, or an ApiError naming `field`. Never rounds: a
    value with more decimals than `scale` (trailing zeros aside) is rejected."""
    if value.units <= 0:
        raise ApiError(code, f"{field} must be greater than 0", field=field)
    if value.scale > MAX_SCALE:
        raise ApiError(code, f"{field} allows at most {scale} decimals{unit}", field=field)
    if value.scale <= scale:
        units = value.units * 10 ** (scale - value.scale)
    else:
        divisor = 10 ** (value.scale - scale)
        if value.units % divisor:
            raise ApiError(code, f"{field} allows at most {scale} decimals{unit}", field=field)
        units = value.units // divisor
    if units > max_whole * 10**scale:
        raise ApiError(code, f"{field} must be at most {max_whole}", field=field)
    return units


def order_id(value: str) -> str:
    """The client's idempotency key (a UUID, canonical form), or a fresh uuid4 when empty."""
    if not value:
        return str(uuid.uuid4())
    return _uuid(value, "order_id", "INVALID_ARGUMENT")


def trade_id(value: str) -> str:
    if not value:
        raise ApiError("INVALID_ARGUMENT", "trade_id is required", field="trade_id")
    return _uuid(value, "trade_id", "INVALID_ARGUMENT")


def _uuid(value: str, field: str, code: str) -> str:
    if not _UUID_RE.fullmatch(value):
        raise ApiError(code, f"{field} must be a UUID", field=field)
    return str(uuid.UUID(value))


def asset(value: str, field: str = "asset") -> str:
    if value not in ASSET_DECIMALS:
        raise ApiError(
            "UNKNOWN_ASSET", f"{field} must be one of {', '.join(SUPPORTED_ASSETS)}", field=field
        )
    return value


def assets(values: list[str]) -> tuple[str, ...]:
    """StreamPrices' filter: empty means every asset."""
    if not values:
        return SUPPORTED_ASSETS
    return tuple(dict.fromkeys(asset(v, "assets") for v in values))


def direction(value: int) -> int:
    if value not in DIRECTIONS:
        raise ApiError("INVALID_ARGUMENT", "direction must be LONG or SHORT", field="direction")
    return value


def leverage(value: int) -> int:
    if value == 0:
        return LEVERAGE_DEFAULT
    if not LEVERAGE_MIN <= value <= LEVERAGE_MAX:
        raise ApiError(
            "INVALID_LEVERAGE",
            f"leverage must be from {LEVERAGE_MIN} to {LEVERAGE_MAX} (1.0x to 100.0x), got {value}",
            field="leverage",
        )
    return value


def margin(request: xs.CreateTradeRequest) -> int:
    if not request.HasField("margin"):
        raise ApiError("INVALID_MARGIN", "margin is required", field="margin")
    return exact_units(request.margin, USD_SCALE, "margin", "INVALID_MARGIN", MAX_MARGIN_USD)


def optional_price(request: xs.CreateTradeRequest, field: str, asset_name: str) -> int | None:
    if not request.HasField(field):
        return None
    return exact_units(
        getattr(request, field),
        ASSET_DECIMALS[asset_name],
        field,
        "INVALID_PRICE",
        MAX_PRICE,
        unit=f" for {asset_name}",
    )


def create_trade(request: xs.CreateTradeRequest) -> TradeOrder:
    checked_asset = asset(request.asset)
    return TradeOrder(
        order_id=order_id(request.order_id),
        asset=checked_asset,
        direction=direction(request.direction),
        margin_units=margin(request),
        leverage=leverage(request.leverage),
        stop_loss_units=optional_price(request, "stop_loss_price", checked_asset),
        take_profit_units=optional_price(request, "take_profit_price", checked_asset),
    )


def email(value: str) -> str:
    """Syntax and length only; the address is trimmed and lower-cased, as the users table
    stores it."""
    candidate = value.strip()
    if not candidate:
        raise ApiError("INVALID_ARGUMENT", "email is required", field="email")
    if len(candidate) > MAX_EMAIL_CHARS:
        raise ApiError(
            "INVALID_ARGUMENT", f"email must be at most {MAX_EMAIL_CHARS} characters", "email"
        )
    local, _, _ = candidate.partition("@")
    if len(local) > _MAX_LOCAL_PART or not _EMAIL_RE.match(candidate):
        raise ApiError("INVALID_ARGUMENT", "email is not a valid address", field="email")
    return candidate.lower()


def page_limit(value: int) -> int:
    if value == 0:
        return PAGE_DEFAULT
    if not PAGE_MIN <= value <= PAGE_MAX:
        raise ApiError(
            "INVALID_ARGUMENT", f"limit must be from {PAGE_MIN} to {PAGE_MAX}", field="limit"
        )
    return value


def page_token(value: str) -> str | None:
    if len(value) > MAX_PAGE_TOKEN_CHARS or not value.isascii():
        raise ApiError("INVALID_ARGUMENT", "page_token is not valid", field="page_token")
    return value or None


def candles(request: xs.ListCandlesRequest) -> CandleQuery:
    checked_asset = asset(request.asset)
    interval_s = CANDLE_INTERVALS_S.get(request.interval)
    if interval_s is None:
        raise ApiError(
            "INVALID_ARGUMENT", "interval must be one of 1m, 5m, 15m, 1h, 4h, 1d", "interval"
        )
    for field in ("start_time_ms", "end_time_ms"):
        if not 0 <= getattr(request, field) <= MAX_TIME_MS:
            raise ApiError(
                "INVALID_ARGUMENT", f"{field} must be from 0 to {MAX_TIME_MS}", field=field
            )
    start, end = request.start_time_ms or None, request.end_time_ms or None
    if start is not None and end is not None and start > end:
        raise ApiError(
            "INVALID_ARGUMENT", "start_time_ms must not be after end_time_ms", "start_time_ms"
        )
    return CandleQuery(checked_asset, interval_s, start, end)
