"""The engine: one deterministic state machine over accounts, positions and prices.

Inputs are commands and ticks; outputs are responses and trade events. Everything that
decides an outcome (ids, time, order of application) arrives with the input, so replaying the
same inputs into a fresh engine gives the same state and the same `state_hash()`.

`seq` counts journaled inputs: every mutating command (accepted or rejected, since its answer
is remembered) and every tick. A mutating command whose (user_id, order_id) was already
answered gets the first response back and changes nothing at all, `seq` included, so a
journal that holds a retried command replays harmlessly.

`clock` is the latest time any journaled input carried (a command's `ts_ms`, a tick's source
time): pending orders expire on it (SPEC 3a), so replay expires exactly the same orders. Each
input first moves the clock and expires what is due, then does its own work. The trader's
toolset (pending orders, changes, partial closes, trailing stops) lives in `toolset`,
`order_rules`, `book`, `trailing` and `settlement`; the C path declines all of it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from types import MethodType
from typing import Any

from engine_svc.core import _native, rules, settlement, toolset
from engine_svc.core import snapshot as snapshots
from engine_svc.core._native import LevelIndex
from engine_svc.core.book import AssetBook
from engine_svc.core.collector import BULK, collector_paused
from engine_svc.core.idempotency import OrderMemory
from engine_svc.core.model import (
    Account,
    Extension,
    InvariantError,
    Position,
    trade_id_for,
)
from engine_svc.core.money import PPM, capped_pnl, format_usd
from engine_svc.core.triggers import TriggerIndex
from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    MUTATING,
    AccountCreated,
    AccountSummary,
    Balances,
    CancelOrder,
    CloseTrade,
    Code,
    Command,
    CreateAccount,
    CreateTrade,
    Direction,
    EventKind,
    GetAccount,
    GetBalance,
    GetOpenTrades,
    GetPendingOrders,
    GetUsdBalance,
    ModifyTrade,
    OpenTrades,
    OrderRejectCode,
    OrderStatus,
    Outcome,
    PlaceOrder,
    Price,
    RejectCode,
    Rejection,
    Response,
    Tick,
    TradeClosed,
    TradeEvent,
    TradeOpened,
    TradeStatus,
    TradeView,
    Usd,
    UsdBalance,
)
from engine_svc.core.views import (
    EVENT_KIND,
    closed_view,
    new_closed,
    new_event,
    new_opened,
    new_response,
    open_view,
    rejection,
)

_MUTATING = frozenset(MUTATING)
_NONE_FIRED: list[tuple[int, Position]] = []
_OPENED = EventKind.OPENED
_CLOSED = TradeStatus.CLOSED
_LIQUIDATED = TradeStatus.LIQUIDATED
_STOP_LOSS = TradeStatus.STOP_LOSS
_TAKE_PROFIT = TradeStatus.TAKE_PROFIT

_Handler = Callable[[Command, Any], Outcome]

_native.configure(
    Command=Command, CreateTrade=CreateTrade, CloseTrade=CloseTrade, Account=Account,
    Position=Position, TriggerIndex=TriggerIndex, TradeView=TradeView, TradeEvent=TradeEvent,
    TradeOpened=TradeOpened, TradeClosed=TradeClosed, Response=Response, Outcome=Outcome,
    LONG=Direction.LONG, SHORT=Direction.SHORT, OPEN=TradeStatus.OPEN, CLOSED=_CLOSED,
    LIQUIDATED=_LIQUIDATED, STOP_LOSS=_STOP_LOSS, TAKE_PROFIT=_TAKE_PROFIT,
    EV_OPENED=EventKind.OPENED, EV_CLOSED=EventKind.CLOSED, EV_LIQUIDATED=EventKind.LIQUIDATED,
    EV_STOP_LOSS=EventKind.STOP_LOSS, EV_TAKE_PROFIT=EventKind.TAKE_PROFIT, capped_pnl=capped_pnl,
    InvariantError=InvariantError,
)  # fmt: skip


def _release_positions(accounts: dict[str, Account]) -> None:
    for account in accounts.values():
        account.open.clear()


class Engine:
    def __init__(
        self,
        assets: Mapping[str, int],
        *,
        maintenance_margin_ppm: int = 0,
        max_open_trades_per_user: int = 200,
        idempotency_per_user: int = 1_000,
        native: bool = True,
        max_pending_orders_per_user: int = 200,
    ) -> None:
        """`native=False` runs every command through the Python code below, the reference
        that the C path (`native/fastpath.c`) is tested against."""
        if type(maintenance_margin_ppm) is not int or not 0 <= maintenance_margin_ppm < PPM:
            raise ValueError(
                f"maintenance_margin_ppm must be in [0, {PPM}), got {maintenance_margin_ppm}"
            )
        if max_open_trades_per_user < 1:
            raise ValueError("max_open_trades_per_user must be >= 1")
        if max_pending_orders_per_user < 0:
            raise ValueError("max_pending_orders_per_user must be >= 0")
        for asset, decimals in assets.items():
            if decimals < 0:
                raise ValueError(f"{asset}: decimals must be >= 0, got {decimals}")
        self.assets: dict[str, int] = dict(assets)
        """Asset name -> price decimals."""
        self.maintenance_margin_ppm = maintenance_margin_ppm
        self.max_open_trades_per_user = max_open_trades_per_user
        self.max_pending_orders_per_user = max_pending_orders_per_user
        self.seq = 0
        """Journaled inputs applied so far: mutating commands and ticks."""
        self.event_seq = 0
        self.next_pos_id = 1
        self.legacy_trade_ids = False
        """True while replaying a command journaled before trade ids carried their command's
        seq (`model.trade_id_for`): it opens its trade under the id it had then. Not state:
        the service sets it per journal record; the C path declines while it is set."""
        self.accounts: dict[str, Account] = {}
        self.positions: dict[int, Position] = {}
        """Open positions by internal id, in open order."""
        self.trades: dict[str, Position] = {}
        """Open positions and pending orders by trade id."""
        self.pending: dict[int, Position] = {}
        """Pending orders by internal id, in placement order."""
        self.clock = 0
        """The latest time (ms) carried by any input applied: a mutating command's or a tick's."""
        self.expiries = LevelIndex()
        """(expires_at_ms, pos_id) of the pending orders that expire."""
        self.next_expiry = toolset.NEVER
        """The earliest expiry in `expiries` (NEVER if none); the C path reads it."""
        self.books: dict[str, AssetBook] = {asset: AssetBook(self.positions) for asset in assets}
        self.prices: dict[str, tuple[Price, Price]] = {}
        """Last (bid, ask) per asset."""
        self.triggers: dict[str, TriggerIndex] = {asset: TriggerIndex() for asset in assets}
        self.orders = OrderMemory(idempotency_per_user)
        self._mutators: dict[type, _Handler] = {
            CreateAccount: self._create_account,
            CreateTrade: self._create_trade,
            CloseTrade: self._close_trade,
            PlaceOrder: MethodType(toolset.place_order, self),
            CancelOrder: MethodType(toolset.cancel_order, self),
            ModifyTrade: MethodType(toolset.modify_trade, self),
        }
        self._queries: dict[type, _Handler] = {
            GetUsdBalance: self._usd_balance,
            GetBalance: self._balances,
            GetOpenTrades: self._open_trades,
            GetAccount: self._account_summary,
            GetPendingOrders: self._pending_orders,
        }
        self._settle_crossed = self._settle
        # Positions made in C (opened by the fast path, or restored from a snapshot) are not
        # tracked by the cyclic collector; their one cycle (account.open <-> position.account)
        # is broken here when the engine goes.
        finalizer = weakref.finalize(self, _release_positions, self.accounts)
        finalizer.atexit = False
        if native:
            fast = _native.FastPath(
                state=vars(self), assets=self.assets, accounts=self.accounts,
                positions=self.positions, trades=self.trades, prices=self.prices,
                triggers=self.triggers, answers=self.orders,
                reference=MethodType(Engine.execute, self), max_open=max_open_trades_per_user,
                maintenance_ppm=maintenance_margin_ppm,
            )  # fmt: skip
            # Accepted creates and closes run in C; it hands everything else to the method.
            self.execute = fast.execute  # type: ignore[method-assign]
            self._settle_crossed = fast.settle

    # ---- public API -------------------------------------------------------------------------

    @staticmethod
    def is_mutating(command: Command) -> bool:
        return isinstance(command.body, MUTATING)

    def price(self, asset: str) -> tuple[Price, Price] | None:
        return self.prices.get(asset)

    def new_trade_id(self, command: Command) -> str:
        """The id of the trade (or order) `command` opens, applied as the `seq`-th input."""
        seq = None if self.legacy_trade_ids else self.seq
        return trade_id_for(command.user_id, command.order_id, seq)

    def execute(self, command: Command) -> Outcome:
        kind = type(command.body)
        if kind in _MUTATING:
            key = (command.user_id, command.order_id)
            if key in self.orders:
                return Outcome(self.orders.recall(key), [])
            self.seq += 1
            ts_ms = command.ts_ms
            if ts_ms > self.clock:
                self.clock = ts_ms
            if self.clock >= self.next_expiry:
                # Time passing comes first: an order due now cannot be changed any more.
                expired = toolset.expire_due(self)
                outcome = self._mutators[kind](command, command.body)
                outcome.events[:0] = expired
            else:
                outcome = self._mutators[kind](command, command.body)
            self.orders.remember(key, outcome.response)  # type: ignore[arg-type]
            return outcome
        handler = self._queries.get(kind)
        if handler is None:
            raise TypeError(f"not a command body: {kind.__name__}")
        return handler(command, command.body)

    def apply_tick(self, tick: Tick) -> list[TradeEvent]:
        """Record the asset's new price and close every position the tick crosses.

        A tick for an asset the engine does not trade is counted (it was journaled) and
        otherwise ignored. Non-positive prices are a broken edge and raise before any change.
        """
        bid, ask = tick.bid, tick.ask
        if bid <= 0 or ask <= 0:
            raise ValueError(f"tick for {tick.asset} with non-positive price: {bid}/{ask}")
        self.seq += 1
        ts_ms = tick.ts_us // 1000
        if ts_ms > self.clock:
            self.clock = ts_ms
        # Expiry before any fill: an order never fills on the input that expires it.
        events = toolset.expire_due(self) if self.clock >= self.next_expiry else []
        asset = tick.asset
        index = self.triggers.get(asset)
        if index is None:
            return events
        self.prices[asset] = (bid, ask)
        book = self.books[asset]
        fired = book.move_trails(bid, ask) if book.trailing else _NONE_FIRED
        losses, profits = index.take_crossed(bid, ask)
        if losses or profits or fired:
            if fired or book.extended:
                settled = settlement.settle_split(
                    self, asset, index, losses, profits, fired, bid, ask, ts_ms
                )
            elif len(losses) + len(profits) < BULK:
                settled = self._settle_crossed(index, losses, profits, bid, ask, ts_ms)
            else:
                with collector_paused():
                    settled = self._settle_crossed(index, losses, profits, bid, ask, ts_ms)
            events = events + settled if events else settled
        if book.orders:
            filled = book.take_fills(bid, ask)
            if filled:
                events += toolset.fill_orders(self, asset, filled, bid, ask, ts_ms)
        return events

    def reset_next_expiry(self) -> None:
        earliest = self.expiries.min_level()
        self.next_expiry = toolset.NEVER if earliest is None else earliest

    def _settle(
        self,
        index: TriggerIndex,
        losses: list[int],
        profits: list[int],
        bid: int,
        ask: int,
        ts_ms: int,
    ) -> list[TradeEvent]:
        """Close what a tick crossed, in price-path order; its entries are already gone."""
        events: list[TradeEvent] = []
        append = events.append
        positions = self.positions
        close = self._close
        for pos_id in losses:
            pos = positions[pos_id]
            index.remove_profit(pos)
            status = _STOP_LOSS if pos.stop_loss is not None else _LIQUIDATED
            append(close(pos, bid if pos.is_long else ask, status, "", ts_ms))
        for pos_id in profits:
            pos = positions[pos_id]
            index.remove_loss(pos)
            append(close(pos, bid if pos.is_long else ask, _TAKE_PROFIT, "", ts_ms))
        return events

    def state_hash(self, include_idempotency: bool = True) -> str:
        """SHA-256 (hex) of a canonical form of all state that can affect future behaviour.

        With `include_idempotency=False` it leaves out `seq`, the remembered answers and the
        clock, the three things every mutating command changes even when it is rejected.
        """
        return snapshots.state_hash(self, include_idempotency)

    def snapshot(self) -> dict[str, Any]:
        return snapshots.dump(self)

    @classmethod
    def restore(
        cls,
        data: dict[str, Any],
        assets: Mapping[str, int],
        *,
        maintenance_margin_ppm: int = 0,
        max_open_trades_per_user: int = 200,
        idempotency_per_user: int = 1_000,
        native: bool = True,
        max_pending_orders_per_user: int = 200,
    ) -> Engine:
        engine = cls(
            assets,
            maintenance_margin_ppm=maintenance_margin_ppm,
            max_open_trades_per_user=max_open_trades_per_user,
            idempotency_per_user=idempotency_per_user,
            native=native,
            max_pending_orders_per_user=max_pending_orders_per_user,
        )
        snapshots.load(engine, data)
        return engine

    # ---- mutating commands ------------------------------------------------------------------

    def _reject(self, command: Command, code: Code, message: str) -> Outcome:
        return Outcome(rejection(command.order_id, self.seq, code, message), [])

    def _missing_account(self, command: Command) -> Outcome:
        seq = self.seq if isinstance(command.body, MUTATING) else 0
        message = f"no account for user {command.user_id}"
        return Outcome(rejection(command.order_id, seq, RejectCode.ACCOUNT_NOT_FOUND, message), [])

    def _create_account(self, command: Command, body: CreateAccount) -> Outcome:
        user_id = command.user_id
        if user_id in self.accounts:
            return self._reject(
                command,
                RejectCode.ACCOUNT_EXISTS,
                f"the account of {command.email} already exists (signing in opens it)",
            )
        self.accounts[user_id] = Account(user_id, command.email, INITIAL_USD_BALANCE)
        data = AccountCreated(command.email, INITIAL_USD_BALANCE)
        return Outcome(new_response(command.order_id, self.seq, data, None), [])

    def _create_trade(self, command: Command, body: CreateTrade) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        found = rules.check_trade(self, account, body)
        if isinstance(found, Rejection):
            return Outcome(rejection(command.order_id, self.seq, found.code, found.message), [])
        is_long, entry, liquidation = found
        order_id = command.order_id
        trade_id = self.new_trade_id(command)
        if trade_id in self.trades:
            # Only under the legacy rule, after the order memory forgot this order id (the
            # user's own later orders pushed it out) and it came back while its first trade is
            # still open (or pending): a second with the same id is ambiguous.
            return self._reject(
                command,
                RejectCode.INVALID_ARGUMENT,
                f"order id {order_id} already opened trade {trade_id}",
            )
        pos_id = self.next_pos_id
        self.next_pos_id = pos_id + 1
        pos = Position(
            pos_id,
            trade_id,
            account,
            body.asset,
            is_long,
            body.margin,
            body.leverage,
            entry,
            liquidation,
            body.stop_loss,
            body.take_profit,
            command.ts_ms,
        )
        account.balance -= body.margin
        account.open[pos_id] = pos
        self.positions[pos_id] = pos
        self.trades[trade_id] = pos
        self.triggers[body.asset].add(pos)
        if body.trailing_distance is not None:
            ext = pos.ext = Extension()
            ext.trailing = body.trailing_distance
            book = self.books[body.asset]
            book.extended += 1
            book.add_trail(pos, *self.prices[body.asset])
        view = open_view(pos)
        self.event_seq += 1
        opened = new_event(self.event_seq, _OPENED, view, order_id, command.ts_ms)
        data = new_opened(account.email, view)
        return Outcome(new_response(order_id, self.seq, data, None), [opened])

    def _close_trade(self, command: Command, body: CloseTrade) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        pos = self.trades.get(body.trade_id)
        if pos is None or pos.account is not account:
            # Someone else's trade must look exactly like one that does not exist.
            return self._reject(
                command, RejectCode.TRADE_NOT_FOUND, f"trade {body.trade_id} not found"
            )
        if pos.status is OrderStatus.PENDING:
            return self._reject(
                command,
                OrderRejectCode.NOT_OPEN,
                f"trade {pos.trade_id} is a pending order: cancel it instead",
            )
        margin = body.margin
        if margin is not None and not 0 < margin <= pos.margin:
            return self._reject(
                command,
                RejectCode.INVALID_MARGIN,
                f"margin to close must be > 0 and at most the trade's {format_usd(pos.margin)}, "
                f"got {format_usd(margin)}",
            )
        quote = self.prices.get(pos.asset)
        if quote is None:
            return self._reject(
                command, RejectCode.PRICE_UNAVAILABLE, f"no price yet for {pos.asset}"
            )
        price = quote[0] if pos.is_long else quote[1]
        if margin is not None and margin < pos.margin:
            return toolset.partial_close(self, command, pos, margin, price)
        self.triggers[pos.asset].remove(pos)
        ext = pos.ext
        if ext is not None and ext.trail is not None:
            self.books[pos.asset].remove_trail(pos)
        closed = self._close(pos, price, _CLOSED, command.order_id, command.ts_ms)
        view = closed.trade
        data = new_closed(account.email, view, view.total_return)  # type: ignore[arg-type]
        return Outcome(new_response(command.order_id, self.seq, data, None), [closed])

    def _close(
        self, pos: Position, price: int, status: TradeStatus, order_id: str, ts_ms: int
    ) -> TradeEvent:
        """Settle a position whose trigger entries are already gone, and emit its event."""
        pos.finish(status)
        margin = pos.margin
        realized = capped_pnl(pos.is_long, margin, pos.leverage, pos.entry, price)
        total = margin + realized
        account = pos.account
        account.balance += total
        del account.open[pos.pos_id]
        del self.positions[pos.pos_id]
        del self.trades[pos.trade_id]
        if pos.ext is not None:
            self.books[pos.asset].extended -= 1
        self.event_seq += 1
        view = closed_view(pos, price, realized, total, ts_ms)
        return new_event(self.event_seq, EVENT_KIND[status], view, order_id, ts_ms)

    # ---- queries ----------------------------------------------------------------------------

    def _usd_balance(self, command: Command, body: GetUsdBalance) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        data = UsdBalance(account.email, Usd(account.balance))
        return Outcome(new_response(command.order_id, 0, data, None), [])

    def _balances(self, command: Command, body: GetBalance) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        data = Balances(account.email, {"USD": Usd(account.balance)})
        return Outcome(new_response(command.order_id, 0, data, None), [])

    def _unrealized(self, pos: Position) -> int:
        """What closing now would realize: at the close-side price, capped at -margin."""
        bid, ask = self.prices[pos.asset]
        price = bid if pos.is_long else ask
        return capped_pnl(pos.is_long, pos.margin, pos.leverage, pos.entry, price)

    def _open_trades(self, command: Command, body: GetOpenTrades) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        views = [open_view(pos, self._unrealized(pos)) for pos in account.open.values()]
        return Outcome(new_response(command.order_id, 0, OpenTrades(views), None), [])

    def _account_summary(self, command: Command, body: GetAccount) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        used = sum(pos.margin for pos in account.open.values())
        reserved = sum(pos.margin for pos in account.pending.values())
        unrealized = sum(self._unrealized(pos) for pos in account.open.values())
        equity = account.balance + used + reserved + unrealized
        data = AccountSummary(
            email=account.email,
            balance=Usd(account.balance),
            equity=Usd(equity),
            used_margin=Usd(used),
            free_margin=Usd(account.balance),
            margin_level_ppm=equity * PPM // used if used else None,
            unrealized_pnl=Usd(unrealized),
            reserved_margin=Usd(reserved),
        )
        return Outcome(new_response(command.order_id, 0, data, None), [])

    def _pending_orders(self, command: Command, body: GetPendingOrders) -> Outcome:
        account = self.accounts.get(command.user_id)
        if account is None:
            return self._missing_account(command)
        views = [open_view(pos) for pos in account.pending.values()]
        return Outcome(new_response(command.order_id, 0, OpenTrades(views), None), [])
