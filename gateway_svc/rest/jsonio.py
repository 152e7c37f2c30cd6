"""JSON in and out without binary floating point.

Request bodies are parsed with every non-integer number as a `Decimal`, so `0.1` stays `0.1`.
Responses are written by orjson, each `Decimal` as a JSON number with exactly its digits
(`str(Decimal)`, inserted as a `Fragment`: never through a float); what orjson refuses (a lone
surrogate in a message, a non-str key) falls back to simplejson's `use_decimal`, which writes
the same numbers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import simplejson
from fastapi.responses import Response

from gateway_svc.errors import ApiError


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; they are not JSON and never a price.
    raise ApiError("INVALID_ARGUMENT", f"{name} is not a valid JSON number")


class RepeatedKey(ApiError):
    """A key given twice: in a JSON object, or a query string (gateway_svc/rest/query.py)."""

    def __init__(self, key: str) -> None:
        shown = key[:64]  # a client's key, bounded where it is repeated back
        super().__init__("INVALID_ARGUMENT", f"{shown} appears more than once", field=shown)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would silently keep the last value; a client that sends two margins
    # should hear about it rather than have one picked for it.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            _reject_lone_surrogates(key)  # the message below repeats the key
            raise RepeatedKey(key)
        result[key] = value
    return result


# Built once: json.loads with options builds a new decoder on every call.
_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_unique_keys
)


def parse_json(raw: bytes) -> Any:
    """Parse a request body: floats become `Decimal`, NaN/Infinity and repeated keys fail."""
    if not raw.strip():
        raise ApiError("INVALID_ARGUMENT", "request body must be a JSON object")
    try:
        # What json.loads does with bytes: detect the UTF encoding, then decode.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except ValueError:  # bad UTF-8 (or UTF-16/32)
        raise ApiError("INVALID_ARGUMENT", "request body is not valid JSON") from None
    return parse_json_text(text)


def parse_json_text(text: str) -> Any:
    """`parse_json`'s rules for a text already decoded (a WebSocket's text message)."""
    try:
        parsed = _DECODER.decode(text)
    except ApiError:
        raise
    except (ValueError, RecursionError):
        # ValueError covers bad syntax and integers past Python's digit limit.
        raise ApiError("INVALID_ARGUMENT", "request body is not valid JSON") from None
    _reject_lone_surrogates(parsed)
    return parsed


def _reject_lone_surrogates(value: Any) -> None:
    """JSON's \\uD800-style escapes can smuggle in half a UTF-16 pair, which no later step
    can encode (protobuf, the audit trail, our own error message): refuse it here, once."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(
                    "INVALID_ARGUMENT", "request body contains an unpaired UTF-16 surrogate"
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _decimal_fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError  # orjson's "not serializable": the fallback decides


def dumps_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON; `Decimal`s as exact JSON numbers."""
    try:
        return orjson.dumps(content, default=_decimal_fragment)
    except TypeError:
        # backslashreplace: an error message must never fail to render, whatever it quotes.
        return dumps(content).encode("utf-8", "backslashreplace")


def dumps(content: Any) -> str:
    return simplejson.dumps(content, use_decimal=True, separators=(",", ":"), ensure_ascii=False)


class DecimalJSONResponse(Response):
    """A JSON response whose `Decimal` values are written exactly, as JSON numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)


def plain_decimal(units: int, scale: int) -> Decimal:
    """Scaled integer -> the shortest exact Decimal: (235950000, 6) -> 235.95, (50000000, 4)
    -> 5000. Built from digits, so no context precision can round it."""
    while scale > 0 and units % 10 == 0:
        units //= 10
        scale -= 1
    if scale <= 0:
        return Decimal(units * 10 ** (-scale))
    sign = 1 if units < 0 else 0
    digits = tuple(int(c) for c in str(abs(units)))
    return Decimal((sign, digits, -scale))
