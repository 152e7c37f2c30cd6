"""Snapshots: JSON-only content, exact round trips, remembered answers restored equal."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest

from engine_svc.core import Engine
from engine_svc.core.frozen import fast_constructor
from engine_svc.core.snapshot import load
from engine_svc.core.types import (
    CreateAccount,
    Direction,
    EventKind,
    Price,
    RejectCode,
    Rejection,
    Response,
    TradeEvent,
    TradeOpened,
    TradeStatus,
    TradeView,
    Usd,
)
from tests.core.driver import ASSETS, Driver, replay, usd

SOL, ETH = "SOL_USDC", "ETH_USDC"


def busy() -> Driver:
    d = Driver(Engine(ASSETS, maintenance_margin_ppm=2_000))
    for user in ("ann", "bob", "cy"):
        d.account(user)
    d.tick(SOL, 200_000_000, 200_050_000)
    d.tick(ETH, 3_400_000_000, 3_400_500_000)
    d.opened("ann", SOL, Direction.LONG, usd("100"), 1000, stop_loss=199_000_000)
    d.opened("ann", ETH, Direction.SHORT, usd("12.3456"), 55, take_profit=3_000_000_000)
    victim = d.opened("bob", SOL, Direction.SHORT, usd("10"), 500)
    gone = d.opened("cy", SOL, Direction.LONG, usd("1"), 10)
    d.close("cy", gone.trade_id)
    d.open("cy", SOL, Direction.LONG, usd("1"), 7)  # a remembered rejection
    d.tick(SOL, 201_000_000, 205_000_000)  # liquidates bob's SHORT
    assert victim.trade_id not in d.engine.trades
    return d


def only_json_types(value: Any) -> bool:
    if type(value) in (int, str):
        return True
    if type(value) is list:
        return all(only_json_types(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and only_json_types(v) for k, v in value.items())
    return False


def test_snapshot_holds_ints_strs_lists_and_dicts_only() -> None:
    data = busy().engine.snapshot()
    assert only_json_types(data)
    assert json.loads(json.dumps(data)) == data


def test_restore_gives_an_equal_state_and_behaves_the_same() -> None:
    d = busy()
    data = json.loads(json.dumps(d.engine.snapshot()))
    restored = Engine.restore(data, ASSETS, maintenance_margin_ppm=2_000)
    assert restored.state_hash() == d.engine.state_hash()
    assert restored.seq == d.engine.seq and restored.price(SOL) == d.engine.price(SOL)
    # Every remembered answer comes back equal, field for field.
    for (user, order_id), response in d.engine.orders.responses():
        again = restored.orders.recall((user, order_id))
        assert again == response
    # And the futures agree: same inputs, same outputs.
    more = Driver(restored, ts_ms=d.ts_ms, counter=d.counter)
    d.tick(SOL, 150_000_000)
    more.tick(SOL, 150_000_000)
    d.open("ann", ETH, Direction.LONG, usd("5"), 20)
    more.open("ann", ETH, Direction.LONG, usd("5"), 20)
    assert restored.state_hash() == d.engine.state_hash()


def test_replay_from_scratch_gives_the_same_hash() -> None:
    d = busy()
    again = replay(d.inputs, Engine(ASSETS, maintenance_margin_ppm=2_000))
    assert again.state_hash() == d.engine.state_hash()


def test_hash_covers_business_state_and_config() -> None:
    d = busy()
    base = d.engine.state_hash()
    d.engine.accounts["ann"].balance += 1
    assert d.engine.state_hash() != base
    d.engine.accounts["ann"].balance -= 1
    other_config = Engine.restore(d.engine.snapshot(), ASSETS, maintenance_margin_ppm=0)
    assert other_config.state_hash() != base
    assert d.engine.state_hash() == base


def test_restore_refuses_what_it_cannot_hold() -> None:
    data = busy().engine.snapshot()
    with pytest.raises(ValueError, match="format"):
        Engine.restore({**data, "format": 99}, ASSETS)
    with pytest.raises(ValueError, match="SOL_USDC"):
        Engine.restore(data, {"BTC_USDC": 4, "ETH_USDC": 6})
    engine = Engine(ASSETS)
    engine.execute(busy().inputs[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fresh"):
        load(engine, data)
    twice = {name: column * 2 for name, column in data["accounts"].items()}
    with pytest.raises(ValueError, match="same user id"):
        Engine.restore({**data, "accounts": twice}, ASSETS)


def test_fast_constructors_build_equal_frozen_objects() -> None:
    view = TradeView(
        *("t", "u", "e", SOL, Direction.LONG, usd("1"), 10, Price(5), None, Price(4), None),
        *(TradeStatus.OPEN, 3, None, None, None, None, Usd(7)),
    )
    cases: list[tuple[type[Any], Any]] = [
        (TradeView, view),
        (Response, Response("o", 3, TradeOpened("e", view), None)),
        (Response, Response("o", 0, None, Rejection(RejectCode.INVALID_MARGIN, "m"))),
        (TradeEvent, TradeEvent(1, EventKind.OPENED, view, "o", 9)),
    ]
    for cls, obj in cases:
        made = fast_constructor(cls)(*(getattr(obj, f.name) for f in fields(cls)))
        assert type(made) is cls and made == obj and hash(made) == hash(obj)
        # Still frozen (3.11 reports it as a TypeError for slotted frozen dataclasses).
        with pytest.raises((AttributeError, TypeError)):
            setattr(made, fields(cls)[0].name, "x")
    with pytest.raises(TypeError):
        fast_constructor(CreateAccount.__mro__[1])  # not a dataclass


def test_fast_constructors_take_defaults_like_the_dataclass() -> None:
    """A field added later with a default does not break a caller built for the old shape
    (the service builds CreateTrade and CloseTrade with their first fields only)."""
    from engine_svc.core.types import CloseTrade, CreateTrade

    make = fast_constructor(CreateTrade)
    assert make(SOL, Direction.LONG, usd("1"), 10, None, None) == CreateTrade(
        SOL, Direction.LONG, usd("1"), 10
    )
    assert fast_constructor(CloseTrade)("t") == CloseTrade("t", None)
    with pytest.raises(TypeError):
        make(SOL)  # required fields stay required


def test_format_1_snapshots_still_load() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 236_000_000)
    d.open("ann", SOL, Direction.LONG, usd("10"))
    data = d.engine.snapshot()
    old = {k: v for k, v in data.items() if k not in ("clock", "extended", "pending")}
    old["format"] = 1
    old["config"] = {k: v for k, v in data["config"].items() if k != "max_pending_orders_per_user"}
    restored = Engine.restore(old, ASSETS)
    assert restored.clock == 0 and restored.trades.keys() == d.engine.trades.keys()
