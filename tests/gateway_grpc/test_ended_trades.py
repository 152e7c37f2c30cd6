"""A close, a change or a cancel of a trade the engine has forgotten (it forgets a trade once it
ends): the fake engine says TRADE_NOT_FOUND, and the gateway asks the real ledger how the trade
ended. Ended: the refusal says so (CloseTrade and ModifyTrade keep NOT_FOUND, CancelOrder is
NOT_PENDING). Not ended yet in the ledger, or a ledger that fails or stalls: the engine's answer
stands, promptly."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from exchange.v1 import events_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.db import Database
from gateway_svc.grpc_services import toolset_servicer
from gateway_svc.grpc_services.ended import ended_rejection
from tests.db.factories import closed, opened
from tests.gateway_grpc.conftest import bearer, sign_in, trailers

STOP_LOSS = events_pb2.TRADE_EVENT_KIND_STOP_LOSS


async def _erin(auth: Any, mailer: Any) -> tuple[str, Any]:
    reply = await sign_in(auth, mailer, "erin@example.com")
    return reply.user_id, bearer(reply.session_token)


def _calls(trade_id: str) -> dict[str, Any]:
    return {
        "CloseTrade": xs.CloseTradeRequest(order_id=str(uuid.uuid4()), trade_id=trade_id),
        "ModifyTrade": xs.ModifyTradeRequest(
            order_id=str(uuid.uuid4()), trade_id=trade_id, take_profit_price=types_pb2.PriceChange()
        ),
        "CancelOrder": xs.CancelOrderRequest(order_id=str(uuid.uuid4()), trade_id=trade_id),
    }


async def _refusal(exchange: Any, method: str, request: Any, metadata: Any) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await getattr(exchange, method)(request, metadata=metadata)
    return info.value


@pytest.mark.parametrize(
    ("method", "code", "status"),
    [
        ("CloseTrade", grpc.StatusCode.NOT_FOUND, "TRADE_NOT_FOUND"),
        ("ModifyTrade", grpc.StatusCode.NOT_FOUND, "TRADE_NOT_FOUND"),
        ("CancelOrder", grpc.StatusCode.FAILED_PRECONDITION, "NOT_PENDING"),
    ],
)
async def test_a_trade_the_ledger_has_ended_is_refused_saying_how(
    exchange: Any, auth: Any, mailer: Any, db: Database, method: str, code: Any, status: str
) -> None:
    user_id, erin = await _erin(auth, mailer)
    trade_id = str(uuid.uuid4())
    await db.record_trade_events(
        [opened(1, trade_id, user_id), closed(2, trade_id, user_id, kind=STOP_LOSS)]
    )

    error = await _refusal(exchange, method, _calls(trade_id)[method], erin)
    assert error.code() == code
    assert error.details().endswith("already ended: STOP_LOSS")
    assert (trailers(error)["x-error-code"], trailers(error)["x-error-field"]) == (
        status,
        "trade_id",
    )


@pytest.mark.parametrize("method", ["CloseTrade", "ModifyTrade", "CancelOrder"])
async def test_an_end_the_ledger_writes_a_moment_later_is_waited_for(
    exchange: Any, auth: Any, mailer: Any, db: Database, method: str
) -> None:
    """A cancel repeated at once: the engine has forgotten the order, the ledger has not yet
    written its end. The answer is the same as a second later, not a 404 first."""
    user_id, erin = await _erin(auth, mailer)
    trade_id = str(uuid.uuid4())
    await db.record_trade_events([opened(1, trade_id, user_id)])

    async def end_it_soon() -> None:
        await asyncio.sleep(0.3)
        await db.record_trade_events([closed(2, trade_id, user_id, kind=STOP_LOSS)])

    ending = asyncio.create_task(end_it_soon())
    error = await _refusal(exchange, method, _calls(trade_id)[method], erin)
    await ending
    assert error.details().endswith("already ended: STOP_LOSS"), error.details()


@pytest.mark.parametrize("method", ["CloseTrade", "ModifyTrade", "CancelOrder"])
async def test_without_an_end_in_the_ledger_the_engines_not_found_stands(
    exchange: Any, auth: Any, mailer: Any, db: Database, method: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # A trade the ledger has open is waited for (above): briefly here.
    monkeypatch.setattr(toolset_servicer, "LEDGER_CATCH_UP_S", 0.2)
    user_id, erin = await _erin(auth, mailer)
    still_open, someone_elses = str(uuid.uuid4()), str(uuid.uuid4())
    await db.record_trade_events(
        [opened(1, still_open, user_id), opened(2, someone_elses, "other-user"),
         closed(3, someone_elses, "other-user", kind=STOP_LOSS)]
    )  # fmt: skip
    for trade_id in (still_open, someone_elses, str(uuid.uuid4())):
        error = await _refusal(exchange, method, _calls(trade_id)[method], erin)
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        assert "already ended" not in error.details()


@pytest.mark.parametrize("failure", ["raises", "stalls"])
async def test_a_ledger_that_fails_or_stalls_leaves_the_engines_answer_promptly(
    exchange: Any, auth: Any, mailer: Any, db: Database, monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:  # fmt: skip
    _, erin = await _erin(auth, mailer)

    async def broken(user_id: str, trade_id: str) -> str:
        if failure == "stalls":
            await asyncio.sleep(60)
        raise OSError("the database is away")

    monkeypatch.setattr(db, "trade_status", broken)
    request = _calls(str(uuid.uuid4()))["CloseTrade"]
    # A deadline well past the lookup's own limit: a stall that reached the call would end it
    # DEADLINE_EXCEEDED instead of the engine's NOT_FOUND.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CloseTrade(
            request, metadata=erin, timeout=toolset_servicer.LEDGER_LOOKUP_S + 5
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value.details()
    assert trailers(info.value)["x-error-code"] == "TRADE_NOT_FOUND"


async def test_a_trade_opened_here_is_waited_for_before_the_ledger_has_any_row_of_it(
    exchange: Any, auth: Any, mailer: Any, db: Database, engine: Any
) -> None:
    """Opened and ended within the ledger's linger: no row at all yet, but this process saw
    it opened, so its end is waited for too."""
    user_id, erin = await _erin(auth, mailer)
    opened_reply = await exchange.CreateTrade(
        xs.CreateTradeRequest(
            asset="SOL_USDC", direction=types_pb2.DIRECTION_LONG,
            margin=types_pb2.Decimal(units=10, scale=0), leverage=10,
        ),
        metadata=erin,
    )  # fmt: skip
    trade_id = opened_reply.opened.trade.trade_id

    async def write_it_soon() -> None:
        await asyncio.sleep(0.3)
        await db.record_trade_events(
            [opened(1, trade_id, user_id), closed(2, trade_id, user_id, kind=STOP_LOSS)]
        )

    writing = asyncio.create_task(write_it_soon())
    error = await _refusal(exchange, "ModifyTrade", _calls(trade_id)["ModifyTrade"], erin)
    await writing
    assert error.details().endswith("already ended: STOP_LOSS"), error.details()


@pytest.mark.parametrize(
    ("command", "status", "code", "message"),
    [
        ("CANCEL_ORDER", "EXPIRED", "NOT_PENDING", "the order has already ended: EXPIRED"),
        # A market trade was never an order: its end is a trade's.
        ("CANCEL_ORDER", "CLOSED", "NOT_PENDING", "the trade has already ended: CLOSED"),
        ("CLOSE_TRADE", "LIQUIDATED", "TRADE_NOT_FOUND", "the trade has already ended: LIQUIDATED"),
        ("MODIFY_TRADE", "CANCELLED", "TRADE_NOT_FOUND", "the order has already ended: CANCELLED"),
    ],
)
def test_an_end_is_named_as_an_orders_or_a_trades(
    command: str, status: str, code: str, message: str
) -> None:
    told = ended_rejection(command, status)
    assert (told.spec.name, told.message, told.field) == (code, message, "trade_id")
