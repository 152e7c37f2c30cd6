"""The error registry (gateway_svc.errors) is complete and unambiguous: every ErrorCode of the
contract has exactly one entry, every code the engine core rejects with is one of them, and
each answers with the gRPC and HTTP status SPEC section 3 documents."""

from __future__ import annotations

from collections import Counter

import grpc
import pytest
from exchange.v1 import types_pb2

from engine_svc.core import types as core
from gateway_svc import errors

_S = grpc.StatusCode
# SPEC 3: 400 for bad input or a business rejection, 401 without valid auth, 404 for a trade
# that is not the caller's or does not exist, 503/504 when the engine does not answer in time.
DOCUMENTED: dict[str, tuple[grpc.StatusCode, int]] = {
    "INVALID_ARGUMENT": (_S.INVALID_ARGUMENT, 400),
    "UNKNOWN_ASSET": (_S.INVALID_ARGUMENT, 400),
    "INVALID_LEVERAGE": (_S.INVALID_ARGUMENT, 400),
    "INVALID_MARGIN": (_S.INVALID_ARGUMENT, 400),
    "INVALID_PRICE": (_S.INVALID_ARGUMENT, 400),
    "INSUFFICIENT_BALANCE": (_S.FAILED_PRECONDITION, 400),
    "PRICE_UNAVAILABLE": (_S.FAILED_PRECONDITION, 400),
    "INVALID_STOP_LOSS": (_S.INVALID_ARGUMENT, 400),
    "INVALID_TAKE_PROFIT": (_S.INVALID_ARGUMENT, 400),
    "TRADE_NOT_FOUND": (_S.NOT_FOUND, 404),
    "ACCOUNT_NOT_FOUND": (_S.FAILED_PRECONDITION, 400),
    "ACCOUNT_EXISTS": (_S.ALREADY_EXISTS, 400),
    "TOO_MANY_OPEN_TRADES": (_S.RESOURCE_EXHAUSTED, 400),
    "UNAUTHENTICATED": (_S.UNAUTHENTICATED, 401),
    "RATE_LIMITED": (_S.RESOURCE_EXHAUSTED, 429),
    "ENGINE_UNAVAILABLE": (_S.UNAVAILABLE, 503),
    "ENGINE_TIMEOUT": (_S.DEADLINE_EXCEEDED, 504),
    "INTERNAL": (_S.INTERNAL, 500),
    # SPEC 3a: same envelope and status codes; CANCEL_ORDER on a trade that is not PENDING
    # and CLOSE_TRADE on a PENDING order are 400.
    "TOO_MANY_PENDING_ORDERS": (_S.RESOURCE_EXHAUSTED, 400),
    "INVALID_TRAILING_STOP": (_S.INVALID_ARGUMENT, 400),
    "INVALID_EXPIRY": (_S.INVALID_ARGUMENT, 400),
    "NOT_PENDING": (_S.FAILED_PRECONDITION, 400),
    "NOT_OPEN": (_S.FAILED_PRECONDITION, 400),
    # Not a command's answer: the end of a StreamTradeEvents that could not deliver everything
    # (README, "Trade events"). ABORTED: retry at a higher level, after re-reading the trades.
    "EVENTS_LOST": (_S.ABORTED, 409),
    "DATABASE_UNAVAILABLE": (_S.UNAVAILABLE, 503),
}


def _contract_names() -> list[str]:
    return [
        name.removeprefix("ERROR_CODE_")
        for name in types_pb2.ErrorCode.keys()  # noqa: SIM118 (an EnumTypeWrapper, not a dict)
        if name != "ERROR_CODE_UNSPECIFIED"
    ]


def test_every_contract_code_has_exactly_one_entry() -> None:
    registered = Counter(spec.name for spec in errors.REGISTRY)
    assert [name for name, n in registered.items() if n > 1] == []
    assert sorted(registered) == sorted(_contract_names())
    codes = Counter(spec.code for spec in errors.REGISTRY)
    assert [code for code, n in codes.items() if n > 1] == []


def test_each_entry_carries_its_own_enum_value() -> None:
    for spec in errors.REGISTRY:
        assert types_pb2.ErrorCode.Name(spec.code) == f"ERROR_CODE_{spec.name}"
        assert errors.spec_for(spec.code) is spec
        assert errors.spec_for(spec.name) is spec
        assert errors.spec_for(f"ERROR_CODE_{spec.name}") is spec
        assert spec.default_message


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_statuses_are_as_documented(name: str) -> None:
    spec = errors.BY_NAME[name]
    assert (spec.grpc_status, spec.http_status) == DOCUMENTED[name]


def test_every_contract_code_is_documented_here() -> None:
    """A new ErrorCode must get its documented statuses in the table above, not a guess."""
    assert sorted(DOCUMENTED) == sorted(_contract_names())


def test_every_core_rejection_is_registered() -> None:
    core_codes = [code.value for code in (*core.RejectCode, *core.OrderRejectCode)]
    missing = [name for name in core_codes if name not in errors.BY_NAME]
    assert missing == []


def test_unknown_codes_fall_back_to_internal() -> None:
    assert errors.spec_for(9999).name == "INTERNAL"
    assert errors.spec_for("NO_SUCH_CODE").name == "INTERNAL"
