"""The trader's toolset on `exchange.v1.ExchangeService` (SPEC 3a): PlaceOrder, CancelOrder,
ModifyTrade and ListPendingTrades. Mixed into ExchangeServicer, whose authentication, rate
limit and command runner they use; every field is validated (gateway_svc.validation_orders)
before anything reaches the engine's stream.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from exchange.v1 import commands_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs
from google.protobuf.message import Message

from gateway_svc import validation
from gateway_svc import validation_orders as orders
from gateway_svc.auth import Principal
from gateway_svc.db import Database
from gateway_svc.db.database import answered_within
from gateway_svc.errors import ApiError
from gateway_svc.grpc_services.commands import Caller, CommandRunner, expect, reused_order_id
from gateway_svc.grpc_services.common import for_order, unary, without_order_id
from gateway_svc.grpc_services.ended import ended_rejection, has_ended
from gateway_svc.grpc_services.order_reuse import answers_another_command
from gateway_svc.grpc_services.trade_assets import TradeAssets
from mesh.error_text import describe
from mesh.limits import ASSET_DECIMALS

log = logging.getLogger(__name__)
# How long a refusal may wait for one answer of the ledger on how a trade ended, and for the
# ledger to write an end the engine has made already (see `_ended`).
LEDGER_LOOKUP_S = 0.5
LEDGER_CATCH_UP_S = 2.0
LEDGER_POLL_S = (0.05, 0.4)  # the first wait between two looks, doubled up to the second


def decimal(units: int | None, scale: int) -> types_pb2.Decimal | None:
    return None if units is None else types_pb2.Decimal(units=units, scale=scale)


def _price_change(
    value: int | orders.Keep | None, asset: str | None, field: str, code: str
) -> types_pb2.PriceChange | None:
    """KEEP -> absent, None -> empty (remove), units -> the value at the asset's decimals
    (`asset` is known whenever a value is set)."""
    if isinstance(value, orders.Keep):
        return None
    if value is None:
        return types_pb2.PriceChange()
    assert asset is not None
    units = orders.change_units(value, asset, field, code)
    return types_pb2.PriceChange(value=decimal(units, ASSET_DECIMALS[asset]))


class ToolsetMethods:
    # ExchangeServicer's: its command runner; `_admitted` (the caller authenticated, then the
    # request checked, a refusal spending a token); `_spend` (one token of the caller's).
    _runner: CommandRunner
    _principal: Callable[[Any], Awaitable[Principal]]
    _admitted: Callable[[Any, Any, Callable[[], Any]], Awaitable[tuple[str, Principal, Any]]]
    _spend: Callable[[Principal], Awaitable[None]]
    _db: Database
    _trade_assets: TradeAssets

    @staticmethod
    def _caller(principal: Principal) -> Caller:
        return Caller(principal.user_id, principal.email)

    async def _command(
        self,
        request: Any,
        context: Any,
        name: str,
        check: Callable[[], Message],
        answer: str,
        not_found: Callable[[Principal], Awaitable[None]] | None = None,
    ) -> tuple[str, Any, Principal]:
        """One toolset command: authenticate, `check` the request (its validation, returning
        the engine's body), run it, spending the token in its own XADD, and return (order id,
        the answer's `answer` field, the caller). `not_found` may turn the engine's
        TRADE_NOT_FOUND into a truer rejection before it is raised."""
        order_id, principal, body = await self._admitted(context, request, check)
        with for_order(order_id):
            result = await self._run(principal, order_id, name, body, not_found, limited=True)
            return order_id, expect(result, answer), principal

    async def _run(
        self,
        principal: Principal,
        order_id: str,
        name: str,
        body: Message,
        not_found: Callable[[Principal], Awaitable[None]] | None,
        *,
        limited: bool,
    ) -> Any:
        """The engine's answer to one command; `not_found` may turn its TRADE_NOT_FOUND into a
        truer rejection before that is raised."""
        try:
            return await self._runner.run(
                self._caller(principal), order_id, name, body, limited=limited
            )
        except ApiError as error:
            if not_found is not None and error.spec.name == "TRADE_NOT_FOUND":
                await not_found(principal)
            raise

    @unary
    async def PlaceOrder(self, request: Any, context: Any) -> Any:
        def check() -> Message:
            return commands_pb2.PlaceOrder(**orders.place_order(request).wire_fields())

        order_id, placed, caller = await self._command(
            request, context, "place_order", check, "order_placed"
        )
        self._trade_assets.remember(caller.user_id, placed.trade.trade_id, placed.trade.asset)
        return xs.PlaceOrderResponse(order_id=order_id, placed=placed)

    @unary
    async def CancelOrder(self, request: Any, context: Any) -> Any:
        def check() -> Message:
            return commands_pb2.CancelOrder(trade_id=orders.cancel_order(request)[1])

        async def not_found(principal: Principal) -> None:
            await self._not_found_as_ended(
                principal, "CANCEL_ORDER", validation.trade_id(request.trade_id)
            )

        order_id, cancelled, _ = await self._command(
            request, context, "cancel_order", check, "order_cancelled", not_found
        )
        return xs.CancelOrderResponse(order_id=order_id, cancelled=cancelled)

    async def _ended(self, principal: Principal, trade_id: str) -> str | None:
        """How the caller's trade `trade_id` ended, if the ledger has it ended. The engine forgets
        a trade once it ends, so it can only say "not found"; the ledger still knows it. Where
        the ledger still has it live, the end is on its way (written a moment after the
        engine's answer): it is waited for, up to LEDGER_CATCH_UP_S, so a cancel repeated at
        once is NOT_PENDING as it is a second later, not a 404; so is a trade the ledger has
        no row of yet that this process saw placed or opened. Any other trade the ledger never
        had is not waited for, and a ledger that cannot be read at once leaves the engine's
        answer standing (a stalled database cannot turn it into a timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEDGER_CATCH_UP_S
        pause, longest = LEDGER_POLL_S
        # A trade this process saw placed or opened may not be in the ledger at all yet.
        seen_here = self._trade_assets.get(principal.user_id, trade_id) is not None
        while True:
            try:
                status = await answered_within(
                    self._db.trade_status(principal.user_id, trade_id), LEDGER_LOOKUP_S
                )
            except Exception as error:
                log.warning(
                    "the ledger could not say how trade %s ended: %s", trade_id, describe(error)
                )
                return None
            if has_ended(status):
                return status
            if (status is None and not seen_here) or loop.time() >= deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)

    async def _not_found_as_ended(self, principal: Principal, command: str, trade_id: str) -> None:
        """The engine's TRADE_NOT_FOUND for `command` on a trade the ledger has ended: how it
        ended, as `ended.ended_rejection` says (the engine's answer stands otherwise)."""
        status = await self._ended(principal, trade_id)
        if status is not None:
            raise ended_rejection(command, status)

    async def _trade_asset(self, principal: Principal, trade_id: str) -> str | None:
        """The asset of the caller's open trade or pending order `trade_id`: remembered, else
        from the engine (see trade_assets); None if it has none."""
        known = self._trade_assets.get(principal.user_id, trade_id)
        if known is not None:
            return known
        for body in ("get_open_trades", "get_pending_orders"):
            try:
                result = await self._runner.run(self._caller(principal), str(uuid.uuid4()), body)
            except ApiError as error:  # the caller's ModifyTrade failed: its id, not the lookup's
                raise without_order_id(error) from None
            trades = expect(result, "open_trades").trades
            self._trade_assets.remember_all(principal.user_id, trades)
            known = self._trade_assets.get(principal.user_id, trade_id)
            if known is not None:
                return known
        return None

    async def _modification(
        self, change: orders.TradeChange, principal: Principal
    ) -> commands_pb2.ModifyTrade:
        if not change.has_prices:  # removals alone need no asset: there is no price to read
            return _modify_body(change, None)
        asset = await self._trade_asset(principal, change.trade_id)
        if asset is None:
            # No such trade (any more): its prices cannot be read, and need not be. The bare
            # command is answered from the engine's memory if it retries one the engine
            # answered (the trade has ended since: SPEC's "a retry returns the first answer";
            # ModifyTrade then compares the answer with the whole request), and with
            # TRADE_NOT_FOUND otherwise.
            return commands_pb2.ModifyTrade(trade_id=change.trade_id)
        return _modify_body(change, asset)

    @unary
    async def ModifyTrade(self, request: Any, context: Any) -> Any:
        order_id, principal, change = await self._admitted(
            context, request, lambda: orders.modify_trade(request)
        )
        with for_order(order_id):
            # The token is spent before the engine is asked for the trade's asset, so a caller
            # past its rate cannot make the gateway query the engine.
            await self._spend(principal)
            body = await self._modification(change, principal)
            result = await self._run(
                principal, order_id, "modify_trade", body,
                lambda caller: self._not_found_as_ended(caller, "MODIFY_TRADE", change.trade_id),
                limited=False,
            )  # fmt: skip
            modified = expect(result, "trade_modified")
            if change.has_prices and not body.asset and modified.trade.asset in ASSET_DECIMALS:
                # A first answer given to a bare command: the answer names the asset, so the
                # whole request can be compared with it now.
                whole = _modify_body(change, modified.trade.asset)
                if answers_another_command("modify_trade", whole, result):
                    raise reused_order_id(order_id)
        return xs.ModifyTradeResponse(order_id=order_id, modified=modified)

    @unary
    async def ListPendingTrades(self, request: Any, context: Any) -> Any:
        order_id = str(uuid.uuid4())
        with for_order(order_id):
            principal = await self._principal(context)
            caller = self._caller(principal)
            result = await self._runner.run(caller, order_id, "get_pending_orders", limited=True)
            pending = expect(result, "open_trades")
        return xs.ListPendingTradesResponse(trades=pending.trades)


def _modify_body(change: orders.TradeChange, asset: str | None) -> commands_pb2.ModifyTrade:
    """The engine's ModifyTrade for `change`, its prices read at `asset`'s decimals (None:
    the change names no price, only removals and the expiry)."""
    body = commands_pb2.ModifyTrade(trade_id=change.trade_id, asset=asset or "")
    levels = (
        ("stop_loss_price", change.stop_loss, "INVALID_PRICE"),
        ("take_profit_price", change.take_profit, "INVALID_PRICE"),
        ("trailing_stop_distance", change.trailing, "INVALID_TRAILING_STOP"),
    )
    for field, value, code in levels:
        wire = _price_change(value, asset, field, code)
        if wire is not None:
            getattr(body, field).CopyFrom(wire)
    if isinstance(change.price, int) and asset is not None:
        units = orders.change_units(change.price, asset, "price")
        body.price.CopyFrom(decimal(units, ASSET_DECIMALS[asset]))
    if not isinstance(change.expires_at_ms, orders.Keep):
        body.expires_at.SetInParent()
        if change.expires_at_ms is not None:
            body.expires_at.expires_at_ms = change.expires_at_ms
    return body
