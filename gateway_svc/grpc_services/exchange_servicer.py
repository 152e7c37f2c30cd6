"""`exchange.v1.ExchangeService`: market data, account and trading.

Each trading RPC authenticates first, then validates every field (gateway_svc.validation), and
spends a token of the caller's command rate limit (in the command's own XADD, or before it; a
refused request spends one too) before anything reaches the engine or the database. Balances
and open trades come from the engine (it is the only writer); closed trades, orders and
candles come from the Postgres audit trail.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
from exchange.v1 import commands_pb2, exchange_service_pb2_grpc, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc import validation, validation_orders
from gateway_svc.auth import Principal, Sessions
from gateway_svc.auth.sessions import rejected as session_rejected
from gateway_svc.db import Database, InvalidPageToken
from gateway_svc.db.database import answered_within
from gateway_svc.errors import ApiError
from gateway_svc.grpc_services import convert
from gateway_svc.grpc_services.commands import Caller, CommandRunner, expect
from gateway_svc.grpc_services.common import abort, for_order, streaming, unary
from gateway_svc.grpc_services.toolset_servicer import ToolsetMethods, decimal
from gateway_svc.grpc_services.trade_assets import TradeAssets
from gateway_svc.ledger_caught_up import LedgerCaughtUp
from gateway_svc.prices import PriceBook, TradeEventHub
from gateway_svc.stream_headers import SUBSCRIBED
from gateway_svc.token_bucket import LIMITER_ERRORS, SharedTokenBuckets
from mesh import streams
from mesh.assets import ASSET_DECIMALS, SUPPORTED_ASSETS, USD_SCALE

log = logging.getLogger(__name__)
T = TypeVar("T")

Page = tuple[Sequence[Any], str | None]
"""Rows of one page and the token of the next (None after the last)."""

# Streams re-check their session (in memory) this often, so a signed-out token stops
# receiving events within about a second, on whichever gateway process signed it out.
SESSION_RECHECK_S = 1.0


def _caller(principal: Principal) -> Caller:
    return Caller(principal.user_id, principal.email)


class ExchangeServicer(ToolsetMethods, exchange_service_pb2_grpc.ExchangeServiceServicer):
    def __init__(
        self,
        sessions: Sessions,
        runner: CommandRunner,
        db: Database,
        prices: PriceBook,
        events: TradeEventHub,
        command_limit: SharedTokenBuckets,
        ledger: LedgerCaughtUp,
        *,
        candles_max_bars: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._candles_max_bars = candles_max_bars  # CANDLES_MAX_BARS: bars per ListCandles
        self._runner = runner
        self._db = db
        self._prices = prices
        self._events = events
        self._command_limit = command_limit
        self._trade_assets = TradeAssets()

    async def _principal(self, context: grpc.aio.ServicerContext) -> Principal:
        return await self._sessions.authenticate(context.invocation_metadata())

    async def _limited_principal(self, context: grpc.aio.ServicerContext) -> Principal:
        """The caller, if within its command rate: every engine command and audit query of
        ExchangeService spends a token, so one user cannot flood the engine's stream or the
        database. The buckets live in Redis, shared by every gateway process; without Redis
        the engine is out of reach anyway, so the call fails as such. The engine commands
        spend theirs in the command's own XADD instead (`_runner.run(limited=True)`), through
        `_admitted` when refused before it, or (ModifyTrade) by `_spend` before the engine is
        asked for the trade's asset."""
        principal = await self._principal(context)
        await self._spend(principal)
        return principal

    async def _spend(self, principal: Principal) -> None:
        try:
            wait_s = await self._command_limit.take(principal.user_id)
        except LIMITER_ERRORS as exc:
            log.warning("command limit unavailable: %r", exc)
            raise ApiError("ENGINE_UNAVAILABLE", "engine unavailable: try again") from None
        if wait_s:
            raise self._command_limit.refusal(wait_s)

    async def _admitted(
        self, context: grpc.aio.ServicerContext, request: Any, check: Callable[[], T]
    ) -> tuple[str, Principal, T]:
        """A state-changing command's (order id, caller, `check()`): `check` is the command's
        own validation, returning what the engine is sent. The caller is authenticated
        before anything in the request is looked at, so a request without a valid session
        is UNAUTHENTICATED whatever else is wrong with it (and that error carries no order
        id: whether the one sent was valid is not told either). A request refused here (its
        order id or `check`) spends a token all the same, RATE_LIMITED instead once there is
        none: a flood of malformed commands is limited as any other. An admitted one spends
        its token in its own XADD (`_runner.run(limited=True)`), or, for ModifyTrade, before
        it asks the engine anything (`_spend`)."""
        principal = await self._principal(context)
        try:
            order_id = validation.order_id(request.order_id)
        except ApiError as refusal:
            await self._refuse(principal, refusal)
        with for_order(order_id):
            try:
                return order_id, principal, check()
            except ApiError as refusal:
                await self._refuse(principal, refusal)

    async def _refuse(self, principal: Principal, refusal: ApiError) -> NoReturn:
        await self._spend(principal)
        raise refusal

    # ---- public market data -----------------------------------------------------------------

    @unary
    async def ListSupportedAssets(self, request: Any, context: Any) -> Any:
        return xs.ListSupportedAssetsResponse(assets=list(SUPPORTED_ASSETS))

    @unary
    async def GetPrice(self, request: Any, context: Any) -> Any:
        asset = validation.asset(request.asset)
        tick = self._prices.latest(asset)
        if tick is None:
            raise ApiError("PRICE_UNAVAILABLE", f"no price yet for {asset}")
        return xs.GetPriceResponse(tick=tick)

    @unary
    async def ListCandles(self, request: Any, context: Any) -> Any:
        query = validation.candles(request)
        rows = await answered_within(
            self._db.list_candles(
                query.asset, query.interval_s, query.start_ms, query.end_ms, self._candles_max_bars
            )
        )
        return xs.ListCandlesResponse(candles=[convert.candle(row) for row in rows])

    @streaming
    async def StreamPrices(self, request: Any, context: Any) -> AsyncIterator[Any]:
        assets = validation.assets(list(request.assets))
        subscription = self._prices.subscribe(assets)
        try:
            # What is known now first, so a new client has prices before the next tick.
            for asset in assets:
                tick = self._prices.latest(asset)
                if tick is not None:
                    yield xs.StreamPricesResponse(tick=tick)
            while (tick := await subscription.get()) is not None:
                yield xs.StreamPricesResponse(tick=tick)
        finally:
            self._prices.unsubscribe(subscription)

    # ---- account ----------------------------------------------------------------------------

    @unary
    async def CreateAccount(self, request: Any, context: Any) -> Any:
        order_id, principal, _ = await self._admitted(context, request, lambda: None)
        with for_order(order_id):
            result = await self._runner.run(
                _caller(principal), order_id, "create_account", limited=True
            )
            account = expect(result, "account_created")
        return xs.CreateAccountResponse(order_id=order_id, account=account)

    async def _query(self, context: Any, body: str, answer: str) -> tuple[str, Any]:
        """One read-only engine round trip (never audited): (order id, its `answer` field)."""
        order_id = str(uuid.uuid4())
        with for_order(order_id):
            principal = await self._principal(context)
            result = await self._runner.run(_caller(principal), order_id, body, limited=True)
            return order_id, expect(result, answer)

    @unary
    async def GetUsdBalance(self, request: Any, context: Any) -> Any:
        order_id, balance = await self._query(context, "get_usd_balance", "usd_balance")
        return xs.GetUsdBalanceResponse(order_id=order_id, balance=balance)

    @unary
    async def GetBalance(self, request: Any, context: Any) -> Any:
        order_id, balances = await self._query(context, "get_balance", "balances")
        return xs.GetBalanceResponse(order_id=order_id, balances=balances)

    @unary
    async def GetAccount(self, request: Any, context: Any) -> Any:
        order_id, account = await self._query(context, "get_account", "account")
        return xs.GetAccountResponse(order_id=order_id, account=account)

    # ---- trading ----------------------------------------------------------------------------

    @unary
    async def CreateTrade(self, request: Any, context: Any) -> Any:
        order_id, principal, body = await self._admitted(
            context, request, lambda: _create_trade_body(request)
        )
        with for_order(order_id):
            result = await self._runner.run(
                _caller(principal), order_id, "create_trade", body, limited=True
            )
            opened = expect(result, "trade_opened")
            # The answer's asset, not the request's: a retry under a used order id answers the
            # first command, which may have opened another asset.
            self._trade_assets.remember(
                principal.user_id, opened.trade.trade_id, opened.trade.asset
            )
        return xs.CreateTradeResponse(order_id=order_id, opened=opened)

    @unary
    async def CloseTrade(self, request: Any, context: Any) -> Any:
        async def not_found(principal: Principal) -> None:
            await self._not_found_as_ended(
                principal, "CLOSE_TRADE", validation.trade_id(request.trade_id)
            )

        order_id, closed, _ = await self._command(
            request, context, "close_trade", lambda: _close_trade_body(request), "trade_closed",
            not_found,
        )  # fmt: skip
        return xs.CloseTradeResponse(order_id=order_id, closed=closed)

    @unary
    async def ListOpenTrades(self, request: Any, context: Any) -> Any:
        _, open_trades = await self._query(context, "get_open_trades", "open_trades")
        return xs.ListOpenTradesResponse(trades=open_trades.trades)

    async def _page(
        self,
        list_page: Callable[[str, int, str | None], Awaitable[Page]],
        request: Any,
        context: Any,
        written_from: tuple[str, str],
    ) -> Page:
        """One page of the caller's rows from `list_page`, with the request's limit and token,
        once the ledger has written what `written_from` (its stream and consumer group) held
        when the request came (bounded, within the call's deadline too: gateway_svc.
        ledger_caught_up): a trade closed, or a command answered, before the read is in it
        unless the ledger is stalled or far behind."""
        principal = await self._limited_principal(context)
        limit = validation.page_limit(request.limit)
        token = validation.page_token(request.page_token)
        await self._ledger.wait(*written_from, time_left_s=context.time_remaining())
        try:
            return await answered_within(list_page(principal.user_id, limit, token))
        except InvalidPageToken:
            raise ApiError("INVALID_ARGUMENT", "page_token is not valid", "page_token") from None

    @unary
    async def ListClosedTrades(self, request: Any, context: Any) -> Any:
        rows, next_token = await self._page(
            self._db.list_closed_trades, request, context, (streams.EVENTS, streams.EVENT_GROUP)
        )
        return xs.ListClosedTradesResponse(
            trades=[convert.trade(row) for row in rows], next_page_token=next_token or ""
        )

    @unary
    async def ListOrders(self, request: Any, context: Any) -> Any:
        rows, next_token = await self._page(
            self._db.list_orders, request, context, (streams.AUDIT, streams.AUDIT_GROUP)
        )
        return xs.ListOrdersResponse(
            orders=[convert.order(row) for row in rows], next_page_token=next_token or ""
        )

    @streaming
    async def StreamTradeEvents(self, request: Any, context: Any) -> AsyncIterator[Any]:
        principal = await self._principal(context)
        subscription = self._events.subscribe(principal.user_id)
        try:
            # The headers say "subscribed": every event after them reaches this stream, so a
            # client that waits for them before trading misses none of its own events.
            await context.send_initial_metadata((SUBSCRIBED,))
            while True:
                wait_s = min(SESSION_RECHECK_S, max(self._sessions.seconds_left(principal), 0))
                event = await subscription.get(timeout=wait_s)
                # Checked on every wake-up, an event or not: a busy stream ends as promptly.
                if not self._sessions.still_valid(principal):
                    await abort(context, session_rejected())
                if event is not None:
                    yield xs.StreamTradeEventsResponse(event=event)
                elif subscription.lost:
                    await abort(context, ApiError("EVENTS_LOST"))
                elif subscription.closed:
                    return  # the server is stopping
        finally:
            self._events.unsubscribe(principal.user_id, subscription)


def _close_trade_body(request: Any) -> commands_pb2.CloseTrade:
    close = validation_orders.close_trade(request)
    return commands_pb2.CloseTrade(
        trade_id=close.trade_id, margin=decimal(close.margin_units, USD_SCALE)
    )


def _create_trade_body(request: Any) -> commands_pb2.CreateTrade:
    """The engine's CreateTrade, from a request the edge's rules accept."""
    order = validation.create_trade(request)
    scale = ASSET_DECIMALS[order.asset]
    body = commands_pb2.CreateTrade(
        asset=order.asset,
        direction=order.direction,  # type: ignore[arg-type]
        margin=types_pb2.Decimal(units=order.margin_units, scale=USD_SCALE),
        leverage=order.leverage,
    )
    if order.stop_loss_units is not None:
        body.stop_loss_price.CopyFrom(types_pb2.Decimal(units=order.stop_loss_units, scale=scale))
    if order.take_profit_units is not None:
        body.take_profit_price.CopyFrom(
            types_pb2.Decimal(units=order.take_profit_units, scale=scale)
        )
    if request.HasField("trailing_stop_distance"):  # rare: kept off the hot path
        trailing = validation_orders.create_trade_trailing(request, order.asset)
        body.trailing_stop_distance.CopyFrom(decimal(trailing, scale))
    return body
