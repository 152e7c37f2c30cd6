"""One engine command, end to end: build it, send it, wait for the answer, write the audit row,
and turn a rejection into an `ApiError` carrying the order id.

The engine round trip runs in its own task, shielded from the RPC: if the client hangs up, the
command (already on the stream) still gets its answer and its audit row. The audit write is
waited for briefly, so a client that lists its orders right after a trade sees it, but a slow
or absent database never fails or stalls the trade: recording errors are only logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from exchange.v1 import commands_pb2, responses_pb2
from google.protobuf.message import Message

from gateway_svc.auth.tokens import Clock
from gateway_svc.db import OrderRow
from gateway_svc.engine_client import OrderIdInUse
from gateway_svc.errors import ApiError, spec_for
from gateway_svc.grpc_services.common import with_order_id

log = logging.getLogger(__name__)

AUDIT_WAIT_S = 2.0
DRAIN_TIMEOUT_S = 10.0

# Command names as the seed's REST API spells them (and the orders audit stores them).
COMMAND_NAMES = {
    "create_account": "CREATE_ACCOUNT",
    "get_usd_balance": "GET_USD_BALANCE",
    "get_balance": "GET_BALANCE",
    "create_trade": "CREATE_TRADE",
    "close_trade": "CLOSE_TRADE",
    "get_open_trades": "GET_OPEN_TRADES",
    "get_account": "GET_ACCOUNT",
}


class Engine(Protocol):
    async def call(self, command: commands_pb2.Command) -> responses_pb2.CommandResult: ...


class OrderAudit(Protocol):
    async def record_order(self, order: OrderRow) -> None: ...


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str


def expect(result: responses_pb2.CommandResult, field: str) -> Any:
    """The answer's `data` must be `field`; anything else is an engine/gateway mismatch."""
    if result.WhichOneof("data") != field:
        log.error(
            "engine answered %s with %r, expected %s",
            result.order_id,
            result.WhichOneof("data"),
            field,
        )
        raise with_order_id(ApiError("INTERNAL"), result.order_id)
    return getattr(result, field)


def _trade_id(command: commands_pb2.Command, result: responses_pb2.CommandResult | None) -> str:
    if result is not None:
        kind = result.WhichOneof("data")
        if kind == "trade_opened":
            return result.trade_opened.trade.trade_id
        if kind == "trade_closed":
            return result.trade_closed.trade.trade_id
    if command.WhichOneof("body") == "close_trade":
        return command.close_trade.trade_id
    return ""


class CommandRunner:
    def __init__(self, engine: Engine, audit: OrderAudit, clock: Clock = time.time) -> None:
        self._engine = engine
        self._audit = audit
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(
        self,
        caller: Caller,
        order_id: str,
        body_field: str,
        body: Message | None = None,
        *,
        request: dict[str, Any] | None = None,
        audit: bool = True,
    ) -> responses_pb2.CommandResult:
        """The engine's successful answer; a rejection or failure raises `ApiError` with
        `order_id` attached."""
        command = commands_pb2.Command(
            order_id=order_id,
            user_id=caller.user_id,
            email=caller.email,
            ts_ms=int(self._clock() * 1000),
        )
        if body is None:
            getattr(command, body_field).SetInParent()
        else:
            getattr(command, body_field).CopyFrom(body)
        task = self._spawn(self._execute(command, request if audit else None, audit))
        result: responses_pb2.CommandResult = await asyncio.shield(task)
        if result.error_code:
            spec = spec_for(result.error_code)
            raise with_order_id(ApiError(spec.name, result.message or None), order_id)
        return result

    async def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Wait for commands and audit writes still in flight (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _execute(
        self, command: commands_pb2.Command, request: dict[str, Any] | None, audit: bool
    ) -> responses_pb2.CommandResult:
        started = time.perf_counter_ns()
        try:
            result = await self._engine.call(command)
        except ApiError as error:
            if audit and not isinstance(error, OrderIdInUse):
                await self._record(command, request, started, None, error)
            raise with_order_id(error, command.order_id) from None
        if audit:
            await self._record(command, request, started, result, None)
        return result

    async def _record(
        self,
        command: commands_pb2.Command,
        request: dict[str, Any] | None,
        started_ns: int,
        result: responses_pb2.CommandResult | None,
        error: ApiError | None,
    ) -> None:
        latency_us = (time.perf_counter_ns() - started_ns) // 1000
        if error is not None:
            status, code, message = "error", error.spec.name, error.message
        elif result is not None and result.error_code:
            spec = spec_for(result.error_code)
            status, code, message = "error", spec.name, result.message or spec.default_message
        else:
            status, code, message = "success", None, result.message if result else ""
        row = OrderRow(
            order_id=command.order_id,
            user_id=command.user_id,
            command=COMMAND_NAMES[str(command.WhichOneof("body"))],
            status=status,
            error_code=code,
            message=message,
            latency_us=latency_us,
            trade_id=_trade_id(command, result) or None,
            created_at_ms=command.ts_ms,
            request=request,
        )
        write = self._spawn(self._write(row))
        await asyncio.wait({write}, timeout=AUDIT_WAIT_S)

    async def _write(self, row: OrderRow) -> None:
        try:
            await self._audit.record_order(row)
        except Exception as exc:
            log.error("orders audit: cannot record %s %s: %r", row.command, row.order_id, exc)


def _settled(task: asyncio.Task[Any]) -> None:
    """Mark the outcome as seen: when the client hung up, nobody else awaits this task, and
    an ApiError (already audited) is not worth asyncio's "never retrieved" warning."""
    if not task.cancelled():
        task.exception()


def audited_request(**fields: Any) -> dict[str, Any]:
    """The request as the audit keeps it: JSON-safe, absent optional fields left out."""
    return {key: value for key, value in fields.items() if value is not None}
