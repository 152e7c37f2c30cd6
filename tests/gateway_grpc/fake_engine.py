"""A stand-in engine for the gateway's gRPC tests: it reads `backend-to-engine` from the real
Redis and answers on the asking instance's own stream, `engine_response:<reply_to>`, exactly as
the real engine addresses its answers ({p: CommandResult}). Like the real one it beats its
heartbeat (mesh.engine_heartbeat), so the gateway's health sees a live engine; set `beating`
False to play a frozen one. The business logic is canned, just enough to exercise the gateway;
the real engine is tested elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable

import redis.asyncio as aioredis
from exchange.v1 import commands_pb2, responses_pb2, types_pb2

from mesh import engine_heartbeat, streams

HEARTBEAT_EVERY_S = 0.1
HEARTBEAT_TIMEOUT_MS = 500
"""Shorter than the real engine's, so a test of a frozen engine is quick."""

Answer = Callable[[commands_pb2.Command], responses_pb2.CommandResult | None]


def usd(units: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=4)


def fake_trade_id(user_id: str, order_id: str) -> str:
    h = hashlib.sha256(f"{user_id}/{order_id}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class FakeEngine:
    def __init__(self, redis: aioredis.Redis, answer: Answer | None = None) -> None:
        self.redis = redis
        self.answer = answer or self.default_answer
        self.commands: list[commands_pb2.Command] = []
        self.accounts: dict[str, int] = {}
        self.trades: dict[str, tuple[str, commands_pb2.CreateTrade]] = {}
        self.beating = True
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def __aenter__(self) -> FakeEngine:
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._beat())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        # A flag, not cancel(): redis-py can wedge a pool when a blocking read is cancelled.
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _beat(self) -> None:
        while not self._stop.is_set():
            if self.beating:
                with contextlib.suppress(*streams.REDIS_ERRORS):  # away: beat again when back
                    await engine_heartbeat.beat(self.redis, HEARTBEAT_TIMEOUT_MS)
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    async def _run(self) -> None:
        cursor = b"0-0"
        while not self._stop.is_set():
            try:
                cursor = await self._step(cursor)
            except streams.REDIS_ERRORS:
                await asyncio.sleep(0.05)  # a killed connection: the pool reconnects

    async def _step(self, cursor: bytes) -> bytes:
        reply = await self.redis.xread({streams.COMMANDS: cursor}, count=100, block=100)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                cursor = entry_id
                command = commands_pb2.Command.FromString(fields[streams.PAYLOAD])
                self.commands.append(command)
                result = self.answer(command)
                if result is None:
                    continue  # a silent engine, for timeout tests
                await self.redis.xadd(
                    streams.response_stream(command.reply_to),
                    {streams.PAYLOAD: result.SerializeToString(), streams.ASKER: command.user_id},
                )
        return cursor

    def default_answer(self, command: commands_pb2.Command) -> responses_pb2.CommandResult:
        out = responses_pb2.CommandResult(order_id=command.order_id)
        kind = command.WhichOneof("body")
        user = command.user_id
        if kind == "create_account":
            if user in self.accounts:
                return reject(out, "ACCOUNT_EXISTS", "account already exists")
            self.accounts[user] = 50_000_000
            out.account_created.email = command.email
            out.account_created.initial_usd_balance.CopyFrom(usd(50_000_000))
            out.account_created.assets.append("USD")
        elif user not in self.accounts:
            return reject(out, "ACCOUNT_NOT_FOUND", "no account")
        elif kind == "get_usd_balance":
            out.usd_balance.email = command.email
            out.usd_balance.usd_balance.CopyFrom(usd(self.accounts[user]))
        elif kind == "get_balance":
            out.balances.email = command.email
            out.balances.balances["USD"].CopyFrom(usd(self.accounts[user]))
        elif kind == "get_account":
            out.account.email = command.email
            out.account.balance.CopyFrom(usd(self.accounts[user]))
            out.account.equity.CopyFrom(usd(self.accounts[user]))
        elif kind == "get_open_trades":
            out.open_trades.SetInParent()
            for trade_id, (owner, body) in self.trades.items():
                if owner == user:
                    self._trade(out.open_trades.trades.add(), trade_id, command, body)
        elif kind == "create_trade":
            body = command.create_trade
            trade_id = fake_trade_id(user, command.order_id)
            self.trades[trade_id] = (user, body)
            out.trade_opened.email = command.email
            self._trade(out.trade_opened.trade, trade_id, command, body)
        elif kind in ("modify_trade", "cancel_order"):
            # The fake holds no pending orders and changes no trade: it knows none to change.
            return reject(out, "TRADE_NOT_FOUND", "trade not found")
        elif kind == "close_trade":
            found = self.trades.get(command.close_trade.trade_id)
            if found is None or found[0] != user:
                return reject(out, "TRADE_NOT_FOUND", "trade not found")
            del self.trades[command.close_trade.trade_id]
            out.trade_closed.email = command.email
            self._trade(out.trade_closed.trade, command.close_trade.trade_id, command, found[1])
            out.trade_closed.trade.status = types_pb2.TRADE_STATUS_CLOSED
            out.trade_closed.margin_returned.CopyFrom(found[1].margin)
        return out

    @staticmethod
    def _trade(
        out: types_pb2.Trade,
        trade_id: str,
        command: commands_pb2.Command,
        body: commands_pb2.CreateTrade,
    ) -> None:
        out.trade_id = trade_id
        out.user_id = command.user_id
        out.email = command.email
        out.asset = body.asset
        out.direction = body.direction
        out.margin.CopyFrom(body.margin)
        out.leverage = body.leverage
        # Every level the order set, as the engine shows them (the gateway compares a used
        # order id's answer with the request: order_reuse).
        for level in ("stop_loss_price", "take_profit_price", "trailing_stop_distance"):
            if body.HasField(level):
                getattr(out, level).CopyFrom(getattr(body, level))
        out.entry_price.CopyFrom(types_pb2.Decimal(units=236_140_000, scale=6))
        out.status = types_pb2.TRADE_STATUS_OPEN
        out.opened_at_ms = command.ts_ms


def reject(
    out: responses_pb2.CommandResult, code: str, message: str
) -> responses_pb2.CommandResult:
    out.error_code = types_pb2.ErrorCode.Value(f"ERROR_CODE_{code}")  # type: ignore[assignment]
    out.message = message
    return out
