"""A database that is away or frozen, as a client meets it: a prompt 503 DATABASE_UNAVAILABLE
that names the database (it was a 504 ENGINE_TIMEOUT after 7 s from the REST facade, and an
INTERNAL over gRPC, while the engine was fine)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest
from exchange.v1 import exchange_service_pb2 as xs
from sqlalchemy import exc

from gateway_svc.db import Database
from gateway_svc.db import database as database_module
from tests.gateway_grpc.conftest import trailers


async def frozen(*args: Any, **kwargs: Any) -> Any:
    """A query on a stopped server: no answer, and a cancellation that takes its time too."""
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        await asyncio.sleep(2)
        raise


async def refused(*args: Any, **kwargs: Any) -> Any:
    raise exc.OperationalError("SELECT", {}, OSError("connection refused"))


@pytest.mark.parametrize("failure", [frozen, refused])
async def test_history_reads_answer_503_naming_the_database(
    exchange: Any, alice: Any, db: Database, monkeypatch: pytest.MonkeyPatch, failure: Any
) -> None:
    monkeypatch.setattr(database_module, "READ_TIMEOUT_S", 0.3)
    monkeypatch.setattr(db, "list_orders", failure)
    monkeypatch.setattr(db, "list_closed_trades", failure)
    for call in (
        exchange.ListOrders(xs.ListOrdersRequest(), metadata=alice, timeout=5),
        exchange.ListClosedTrades(xs.ListClosedTradesRequest(), metadata=alice, timeout=5),
    ):
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert time.monotonic() - started < 1.5  # the read's bound, not its cancellation's
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert trailers(info.value)["x-error-code"] == "DATABASE_UNAVAILABLE"
