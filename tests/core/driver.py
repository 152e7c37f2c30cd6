"""A test driver for the engine core: seeded order ids and a clock, short builders."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from engine_svc.core import Engine
from engine_svc.core.types import (
    CloseTrade,
    Command,
    CommandBody,
    CreateAccount,
    CreateTrade,
    Direction,
    Outcome,
    Price,
    Response,
    Tick,
    TradeEvent,
    TradeView,
    Usd,
)

ASSETS = {"BTC_USDC": 4, "ETH_USDC": 6, "SOL_USDC": 6}
LONG_RUN = os.environ.get("EXCHANGE_TEST_LONG") == "1"


def examples(default: int, long: int) -> int:
    """Hypothesis example counts: small by default, large with EXCHANGE_TEST_LONG=1."""
    return long if LONG_RUN else default


def usd(amount: str) -> Usd:
    """'12.5' -> 125000 units of 0.0001 USD (tests write money the way people read it)."""
    whole, _, frac = amount.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return Usd(sign * (abs(int(whole)) * 10_000 + int((frac or "0").ljust(4, "0"))))


@dataclass
class Driver:
    engine: Engine = field(default_factory=lambda: Engine(ASSETS))
    ts_ms: int = 1_000
    counter: int = 0
    inputs: list[Command | Tick] = field(default_factory=list)
    """Everything fed to the engine, for replay tests."""

    def run(self, user: str, body: CommandBody, order_id: str | None = None) -> Outcome:
        self.counter += 1
        self.ts_ms += 1
        command = Command(
            order_id or f"order-{self.counter}", user, f"{user}@example.com", self.ts_ms, body
        )
        self.inputs.append(command)
        return self.engine.execute(command)

    def answer(self, user: str, body: CommandBody, order_id: str | None = None) -> Response:
        response = self.run(user, body, order_id).response
        assert response is not None
        return response

    def account(self, user: str) -> Response:
        return self.answer(user, CreateAccount())

    def tick(self, asset: str, bid: int, ask: int | None = None) -> list[TradeEvent]:
        self.ts_ms += 1
        tick = Tick(asset, Price(bid), Price(bid if ask is None else ask), self.ts_ms * 1000)
        self.inputs.append(tick)
        return self.engine.apply_tick(tick)

    def open(
        self,
        user: str,
        asset: str,
        direction: Direction,
        margin: int,
        leverage: int = 10,
        stop_loss: int | None = None,
        take_profit: int | None = None,
        order_id: str | None = None,
    ) -> Response:
        body = CreateTrade(
            asset,
            direction,
            Usd(margin),
            leverage,
            None if stop_loss is None else Price(stop_loss),
            None if take_profit is None else Price(take_profit),
        )
        return self.answer(user, body, order_id)

    def opened(self, *args: object, **kwargs: object) -> TradeView:
        """Open a trade that must be accepted; its view."""
        response = self.open(*args, **kwargs)  # type: ignore[arg-type]
        assert response.ok, response.rejection
        trade: TradeView = response.data.trade  # type: ignore[union-attr]
        return trade

    def close(self, user: str, trade_id: str, order_id: str | None = None) -> Response:
        return self.answer(user, CloseTrade(trade_id), order_id)

    def balance(self, user: str) -> int:
        return self.engine.accounts[user].balance


def replay(inputs: list[Command | Tick], engine: Engine) -> Engine:
    for item in inputs:
        if isinstance(item, Tick):
            engine.apply_tick(item)
        else:
            engine.execute(item)
    return engine
