"""One rule, two edges: a number reaches gateway_svc.validation as a JSON Decimal (REST) or as
a proto Decimal (gRPC, and the REST facade's own gRPC call). Both spellings of one value must
get the same units or the same rejection, and the units must be the value exactly."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from exchange.v1 import types_pb2
from hypothesis import given
from hypothesis import strategies as st

from gateway_svc import validation
from gateway_svc.errors import ApiError
from mesh.limits import ASSET_DECIMALS, MAX_MARGIN_USD, USD_SCALE

units = st.integers(min_value=-(2**40), max_value=2**62)
scales = st.integers(min_value=0, max_value=20)


def outcome(rule, value):  # type: ignore[no-untyped-def]
    try:
        return rule(value)
    except ApiError as error:
        return (error.spec.name, error.field)


@given(units, scales, st.sampled_from(sorted(ASSET_DECIMALS)))
def test_json_and_proto_spellings_agree(amount: int, scale: int, asset: str) -> None:
    proto = types_pb2.Decimal(units=amount, scale=scale)
    json_number = Decimal(amount).scaleb(-scale)
    for rule in (
        validation.margin,
        lambda v: validation.price(v, asset, "price"),
    ):
        assert outcome(rule, proto) == outcome(rule, json_number)


@given(units, scales)
def test_accepted_margins_are_the_value_exactly(amount: int, scale: int) -> None:
    exact = Fraction(amount, 10**scale)
    got = outcome(validation.margin, types_pb2.Decimal(units=amount, scale=scale))
    fits = 0 < exact <= MAX_MARGIN_USD and (exact * 10**USD_SCALE).denominator == 1
    if fits:
        assert got == exact * 10**USD_SCALE
    else:
        assert got == ("INVALID_MARGIN", "margin")
