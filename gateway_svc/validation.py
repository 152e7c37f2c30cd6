"""Edge validation, the one module both edges call: the gRPC server checks every request here
before anything reaches a stream, and the REST facade checks the JSON body here (by the same
functions, on the same field names) before it makes the gRPC call. Servicers and the engine
only ever see well-formed input; the engine re-checks business rules only.

A request arrives as a protobuf message or, from the REST facade, as a mapping keyed by the
proto field names (`request_values`); each value is a proto Decimal, a JSON number (int or
Decimal), a string or None (absent). Each failure is an `ApiError` whose message starts with
the proto field it is about ("margin allows at most 4 decimals"), with the most specific
registry code (INVALID_MARGIN, UNKNOWN_ASSET, ...); the REST facade renames the field to its
JSON spelling. Validated amounts come back as integer units at the engine's scale: USD at 4
decimals, prices at the asset's decimals. Bounds come from the registry, `mesh.limits`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import types_pb2
from google.protobuf.message import Message

from gateway_svc.errors import ApiError
from mesh.fixed import FixedPointError, rescale, to_units
from mesh.limits import (
    ASSET_DECIMALS,
    LEVERAGE_DEFAULT,
    LEVERAGE_MAX,
    LEVERAGE_MIN,
    MAX_INPUT_SCALE,
    MAX_MARGIN_USD,
    MAX_PRICE,
    MAX_TIME_MS,
    PAGE_DEFAULT,
    PAGE_MAX,
    PAGE_MIN,
    SUPPORTED_ASSETS,
    USD_SCALE,
)

MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path
MAX_PAGE_TOKEN_CHARS = 512
INT64_MAX = 2**63 - 1

# Deliberately plain: dot-atom local part, hostname-shaped domain. Rejects spaces, control
# characters and anything that could smuggle a header into the sign-in mail.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MAX_LOCAL_PART = 64
# Ids are UUIDs in their 36-character form. Spelled with explicit ASCII classes, not \d or
# uuid.UUID(), which take other scripts' digits (int("\uff10", 16) == 0), braces and
# "urn:uuid:". The pattern is also the OpenAPI document's.
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_UUID_RE = re.compile(UUID_PATTERN)

DIRECTIONS = {types_pb2.DIRECTION_LONG: "LONG", types_pb2.DIRECTION_SHORT: "SHORT"}
CANDLE_INTERVALS_S = {
    xs.CANDLE_INTERVAL_1M: 60,
    xs.CANDLE_INTERVAL_5M: 300,
    xs.CANDLE_INTERVAL_15M: 900,
    xs.CANDLE_INTERVAL_1H: 3600,
    xs.CANDLE_INTERVAL_4H: 14400,
    xs.CANDLE_INTERVAL_1D: 86400,
}

Values = Mapping[str, object]
"""A request's fields by proto name; None is "absent"."""


@dataclass(frozen=True)
class TradeOrder:
    """A validated CreateTradeRequest, amounts in engine units."""

    order_id: str  # the client's, canonical; "" when it sent none
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


def request_values(request: Message | Values) -> Values:
    """A proto request's fields by name, proto3's "unset" (an absent message, 0, "") as None;
    a mapping (the REST facade's) is taken as it is."""
    if not isinstance(request, Message):
        return request
    values: dict[str, object] = {}
    for name, has_presence in _scalar_fields(request.DESCRIPTOR):
        if has_presence:
            values[name] = getattr(request, name) if request.HasField(name) else None
        else:
            values[name] = getattr(request, name) or None
    return values


_FIELDS: dict[object, tuple[tuple[str, bool], ...]] = {}


def _scalar_fields(descriptor: Any) -> tuple[tuple[str, bool], ...]:
    """(name, has presence) of each non-repeated field, once per message type: the gRPC
    edge reads every request through here."""
    fields = _FIELDS.get(descriptor)
    if fields is None:
        fields = tuple((f.name, f.has_presence) for f in descriptor.fields if not f.is_repeated)
        _FIELDS[descriptor] = fields
    return fields


# ---- one value --------------------------------------------------------------------------------


def too_many_decimals(field: str, code: str, decimals: int | str) -> ApiError:
    """The refusal of a value written with more decimals than allowed: `decimals` is their
    number, or words saying what is allowed where the scale depends on something not known
    yet (a MODIFY_TRADE's price, before its trade's asset is looked up)."""
    allowed = f"at most {decimals} decimals" if isinstance(decimals, int) else decimals
    return ApiError(code, f"{field} allows {allowed}", field=field)


def _check_scale(value: types_pb2.Decimal, field: str, code: str) -> None:
    """A proto Decimal's scale past MAX_INPUT_SCALE is refused as such, whatever its value:
    {units: 10^18, scale: 19} is 0.1 exactly, and "at most 4 decimals" would not say why."""
    if value.scale > MAX_INPUT_SCALE:
        raise ApiError(
            code, f"{field} has scale {value.scale}: at most {MAX_INPUT_SCALE}", field=field
        )


def _decimal(value: object, field: str, code: str, decimals: int | str) -> Decimal:
    """A proto Decimal or a JSON number as a finite Decimal, without rounding."""
    if isinstance(value, types_pb2.Decimal):
        _check_scale(value, field, code)
        # int64 units have at most 19 digits: scaleb stays inside the 28-digit context.
        return Decimal(value.units).scaleb(-value.scale)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ApiError(code, f"{field} must be a number", field=field)
    number = Decimal(value)
    if not number.is_finite():
        raise ApiError(code, f"{field} must be a finite number", field=field)
    return number


def amount(
    value: object,
    field: str,
    scale: int,
    code: str,
    max_whole: int,
    decimals: int | str | None = None,
) -> int:
    """A positive number -> integer units at `scale`: at most `scale` decimals (trailing zeros
    aside) and at most `max_whole` whole units, or an ApiError naming `field`. Never rounds.
    `decimals` says how many decimals are allowed when that is not simply `scale`."""
    decimals = scale if decimals is None else decimals
    if value is None:
        raise ApiError(code, f"{field} is required", field=field)
    if isinstance(value, types_pb2.Decimal):
        return _proto_amount(value, field, scale, code, max_whole, decimals)
    if type(value) is int:  # a whole JSON number (margin 100): no decimals to count
        if value <= 0:
            raise ApiError(code, f"{field} must be greater than 0", field=field)
        if value > max_whole:
            raise ApiError(code, f"{field} must be at most {max_whole}", field=field)
        return value * 10**scale
    number = _decimal(value, field, code, decimals)
    if number <= 0:
        raise ApiError(code, f"{field} must be greater than 0", field=field)
    # adjusted() is the power of ten of the leading digit; checked before any int is built,
    # so 1e999999999 cannot make us allocate a billion-digit number.
    if number.adjusted() >= len(str(max_whole)) or number > max_whole:
        raise ApiError(code, f"{field} must be at most {max_whole}", field=field)
    try:
        return to_units(number, scale, field)
    except FixedPointError:  # the magnitude is bounded above: only decimals are left to fail
        raise too_many_decimals(field, code, decimals) from None


def _proto_amount(
    value: types_pb2.Decimal,
    field: str,
    scale: int,
    code: str,
    max_whole: int,
    decimals: int | str,
) -> int:
    """`amount` for a proto Decimal, in integers alone (the gRPC hot path: no Decimal built);
    the same outcome as the JSON spelling of the value (tests/gateway_grpc/
    test_validation_edges_agree.py)."""
    if value.units <= 0:
        raise ApiError(code, f"{field} must be greater than 0", field=field)
    _check_scale(value, field, code)
    try:
        units = rescale(value.units, value.scale, scale, field)
    except FixedPointError:
        raise too_many_decimals(field, code, decimals) from None
    if units > max_whole * 10**scale:
        raise ApiError(code, f"{field} must be at most {max_whole}", field=field)
    return units


def integer(value: object, field: str, code: str, low: int, high: int) -> int:
    """An integer in [low, high]. A JSON 10.0 counts as 10 (as JSON Schema says); 10.5,
    booleans and strings do not."""
    message = f"{field} must be an integer from {low} to {high}"
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ApiError(code, message, field=field)
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value() or value.adjusted() > 18:
            raise ApiError(code, message, field=field)
        value = int(value)
    if not low <= value <= high:
        raise ApiError(code, message, field=field)
    return value


def _uuid(value: object, field: str) -> str:
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        raise ApiError("INVALID_ARGUMENT", f"{field} must be a UUID", field=field)
    # The pattern admits only the hyphenated hex form, whose canonical form (str(UUID)) is
    # its lower case: no UUID object per id on the request path.
    return value.lower()


def order_id(value: object, field: str = "order_id") -> str:
    """The client's idempotency key (a UUID, canonical form), or a fresh uuid4 when absent."""
    if value is None or value == "":
        return str(uuid.uuid4())
    return _uuid(value, field)


def client_order_id(value: object) -> str:
    """The client's order id in canonical form, "" when it sent none (the caller makes one:
    a uuid4 here would be thrown away)."""
    return "" if value is None or value == "" else _uuid(value, "order_id")


def trade_id(value: object, field: str = "trade_id") -> str:
    if value is None or value == "":
        raise ApiError("INVALID_ARGUMENT", f"{field} is required", field=field)
    return _uuid(value, field)


def asset(value: object, field: str = "asset") -> str:
    if value is None or value == "":
        raise ApiError("UNKNOWN_ASSET", f"{field} is required", field=field)
    if not isinstance(value, str) or value not in ASSET_DECIMALS:
        raise ApiError(
            "UNKNOWN_ASSET", f"{field} must be one of {', '.join(SUPPORTED_ASSETS)}", field=field
        )
    return value


def assets(values: list[str]) -> tuple[str, ...]:
    """StreamPrices' filter: empty means every asset."""
    if not values:
        return SUPPORTED_ASSETS
    return tuple(dict.fromkeys(asset(v, "assets") for v in values))


def direction(value: object, field: str = "direction") -> int:
    # An int first: a JSON object or list is not hashable, so it cannot be looked up.
    if type(value) is not int or value not in DIRECTIONS:
        raise ApiError("INVALID_ARGUMENT", f"{field} must be LONG or SHORT", field=field)
    return value  # type: ignore[return-value]


def leverage(value: object, field: str = "leverage") -> int:
    """Absent means the default (10, i.e. 1.0x)."""
    if value is None:
        return LEVERAGE_DEFAULT
    return integer(value, field, "INVALID_LEVERAGE", LEVERAGE_MIN, LEVERAGE_MAX)


def margin(value: object, field: str = "margin") -> int:
    return amount(value, field, USD_SCALE, "INVALID_MARGIN", MAX_MARGIN_USD)


def price(value: object, asset_name: str, field: str, code: str = "INVALID_PRICE") -> int:
    return amount(value, field, ASSET_DECIMALS[asset_name], code, MAX_PRICE)


def optional_price(value: object, asset_name: str, field: str) -> int | None:
    return None if value is None else price(value, asset_name, field)


def time_ms(value: object, field: str) -> int:
    """Milliseconds since the epoch, after 0 and before the registry's bound."""
    return integer(value, field, "INVALID_ARGUMENT", 1, MAX_TIME_MS)


# ---- one request ------------------------------------------------------------------------------


def create_trade(request: xs.CreateTradeRequest | Values) -> TradeOrder:
    values = request_values(request)
    checked_asset = asset(values.get("asset"))
    return TradeOrder(
        order_id=client_order_id(values.get("order_id")),
        asset=checked_asset,
        direction=direction(values.get("direction")),
        margin_units=margin(values.get("margin")),
        leverage=leverage(values.get("leverage")),
        stop_loss_units=optional_price(
            values.get("stop_loss_price"), checked_asset, "stop_loss_price"
        ),
        take_profit_units=optional_price(
            values.get("take_profit_price"), checked_asset, "take_profit_price"
        ),
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
