"""The C path (engine_svc/core/native) against the Python reference engine.

Every input of the random streams of `test_properties` goes into two engines, one with the C
path and one without; every answer, every event and the state hash must be equal after each
input. Small order memories and trade limits make eviction and limits happen in the streams.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_svc.core import Engine, _native
from engine_svc.core.model import trade_id_for
from engine_svc.core.types import (
    CloseTrade,
    Command,
    CreateAccount,
    CreateTrade,
    Direction,
    OrderType,
    Outcome,
    PlaceOrder,
    Price,
    Tick,
    Usd,
)
from tests.core import test_toolset_properties as toolset
from tests.core.driver import ASSETS, examples
from tests.core.test_properties import MAX_OPEN, USERS, Model, run_step, seeded_script, streams


def _engines(ppm: int, per_user: int) -> tuple[Engine, Engine]:
    def build(native: bool) -> Engine:
        return Engine(
            ASSETS,
            maintenance_margin_ppm=ppm,
            max_open_trades_per_user=MAX_OPEN,
            idempotency_per_user=per_user,
            native=native,
        )

    return build(True), build(False)


def _feed(engine: Engine, item: Command | Tick) -> Any:
    try:
        return engine.apply_tick(item) if isinstance(item, Tick) else engine.execute(item)
    except Exception as error:  # both engines must fail alike, too
        return (type(error), str(error))


def _inputs(ppm: int, mids: dict[str, int], script: list[Any]) -> list[Command | Tick]:
    """The inputs of a stream, as test_properties' model generates them."""
    model = Model(
        Engine(ASSETS, maintenance_margin_ppm=ppm, max_open_trades_per_user=MAX_OPEN), mids
    )
    for user in USERS:
        run_step(model, ("account", user))
    run_step(model, ("tick", "BTC_USDC", 0, 100))
    run_step(model, ("tick", "SOL_USDC", 0, 0))
    for step in script:
        run_step(model, step)
    return model.inputs


def _agree(inputs: list[Command | Tick], ppm: int, per_user: int) -> None:
    native, reference = _engines(ppm, per_user)
    for item in inputs:
        assert _feed(native, item) == _feed(reference, item), item
        assert native.state_hash() == reference.state_hash(), item
    assert native.snapshot() == reference.snapshot()


@settings(
    max_examples=examples(60, 2_000), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(streams, st.sampled_from([0, 2, 1_000]))
def test_native_and_reference_agree_on_random_streams(
    stream: tuple[int, dict[str, int], list[Any]], per_user: int
) -> None:
    ppm, mids, script = stream
    _agree(_inputs(ppm, mids, script), ppm, per_user)


@settings(max_examples=examples(6, 200), deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0, 5_000]))
def test_native_and_reference_agree_on_long_streams(seed: int, ppm: int) -> None:
    mids = {"BTC_USDC": 650_000_000, "ETH_USDC": 3_400_000_000, "SOL_USDC": 236_000_000}
    _agree(_inputs(ppm, mids, seeded_script(seed, 400)), ppm, 50)


def _agree_with_toolset(inputs: list[Command | Tick], ppm: int, per_user: int) -> None:
    def build(native: bool) -> Engine:
        return Engine(
            ASSETS, maintenance_margin_ppm=ppm, max_open_trades_per_user=toolset.MAX_OPEN,
            max_pending_orders_per_user=toolset.MAX_PENDING, idempotency_per_user=per_user,
            native=native,
        )  # fmt: skip

    native, reference = build(True), build(False)
    for item in inputs:
        assert _feed(native, item) == _feed(reference, item), item
        assert native.state_hash() == reference.state_hash(), item
    assert native.snapshot() == reference.snapshot()


@settings(
    max_examples=examples(40, 2_000), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(toolset.streams, st.sampled_from([0, 3, 1_000]))
def test_native_and_reference_agree_on_random_toolset_streams(
    stream: tuple[int, dict[str, int], list[Any]], per_user: int
) -> None:
    """Pending orders, changes, partial closes and trailing stops: all declined by the C path,
    whose plain trades and tick settlement must still agree with Python's answer by answer."""
    ppm, mids, script = stream
    _agree_with_toolset(toolset.script_inputs(ppm, mids, script).inputs, ppm, per_user)


@settings(max_examples=examples(4, 200), deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0, 5_000]))
def test_native_and_reference_agree_on_long_toolset_streams(seed: int, ppm: int) -> None:
    script = toolset.seeded_script(seed, 400)
    _agree_with_toolset(toolset.script_inputs(ppm, toolset.LONG_MIDS, script).inputs, ppm, 50)


def test_the_c_path_declines_what_it_does_not_know() -> None:
    """A trailing stop, a partial close, a trade with an Extension, a command on which an
    order expires: each reaches the reference (the Python engine)."""
    engine = Engine(ASSETS)
    engine.execute(_command("ann", "a", CreateAccount()))
    engine.apply_tick(Tick("SOL_USDC", Price(236_000_000), Price(236_100_000), 1))
    declined: list[Any] = []

    def reference(command: Command) -> Outcome:
        declined.append(type(command.body).__name__)
        return Engine.execute(engine, command)

    fast = _native.FastPath(
        state=vars(engine), assets=engine.assets, accounts=engine.accounts,
        positions=engine.positions, trades=engine.trades, prices=engine.prices,
        triggers=engine.triggers, answers=engine.orders, reference=reference, max_open=5,
        maintenance_ppm=0,
    )  # fmt: skip
    trailing = CreateTrade("SOL_USDC", Direction.LONG, Usd(100_000), 10, None, None, Price(10))
    plain = CreateTrade("SOL_USDC", Direction.LONG, Usd(100_000), 10)
    trailing_open = fast.execute(_command("ann", "t", trailing))
    plain_open = fast.execute(_command("ann", "p", plain))
    assert trailing_open.response.ok and plain_open.response.ok  # type: ignore[union-attr]
    assert declined == ["CreateTrade"]
    plain_id, trailing_id = _opened(plain_open), _opened(trailing_open)
    part = fast.execute(_command("ann", "c1", CloseTrade(plain_id, Usd(1))))
    assert part.response.ok and declined[-1] == "CloseTrade"  # type: ignore[union-attr]
    fast.execute(_command("ann", "c2", CloseTrade(plain_id)))  # partly closed: an Extension
    fast.execute(_command("ann", "c3", CloseTrade(trailing_id)))
    assert declined == ["CreateTrade", "CloseTrade", "CloseTrade", "CloseTrade"]
    order = PlaceOrder("SOL_USDC", Direction.LONG, OrderType.LIMIT, Price(230_000_000),
                       Usd(100_000), expires_at_ms=100)  # fmt: skip
    assert fast.execute(_command("ann", "o", order)).response.ok  # type: ignore[union-attr]
    late = Command("l", "ann", "ann@x", 100, plain)  # its time expires the order
    outcome = fast.execute(late)
    assert declined[-1] == "CreateTrade" and outcome.events[0].trade.status.value == "EXPIRED"
    assert engine.clock == 100
    fast.execute(Command("m", "ann", "ann@x", 150, plain))  # a plain create in C
    assert declined.count("CreateTrade") == 2 and engine.clock == 150


def _command(user: str, order_id: str, body: Any) -> Command:
    return Command(order_id, user, f"{user}@x", 7, body)


def _opened(outcome: Any) -> str:
    """The id of the trade an accepted create opened (its OPENED event's)."""
    (event,) = outcome.events
    return str(event.trade.trade_id)


def test_accepted_creates_and_closes_never_reach_the_reference() -> None:
    engine = Engine(ASSETS)
    engine.execute(_command("ann", "a", CreateAccount()))
    engine.apply_tick(Tick("SOL_USDC", Price(236_000_000), Price(236_100_000), 1))

    def reference(command: Command) -> Outcome:
        raise AssertionError(f"declined: {command}")

    fast = _native.FastPath(
        state=vars(engine), assets=engine.assets, accounts=engine.accounts,
        positions=engine.positions, trades=engine.trades, prices=engine.prices,
        triggers=engine.triggers, answers=engine.orders, reference=reference, max_open=5,
        maintenance_ppm=0,
    )  # fmt: skip
    body = CreateTrade("SOL_USDC", Direction.SHORT, Usd(100_000), 100, Price(237_000_000))
    opened = fast.execute(_command("ann", "o1", body))
    assert opened.response is not None and opened.response.ok
    trade_id = opened.events[0].trade.trade_id
    closed = fast.execute(_command("ann", "o2", CloseTrade(trade_id)))
    assert closed.response is not None and closed.response.ok
    assert engine.trades == {} and len(engine.orders) == 3  # with the account
    with pytest.raises(AssertionError, match="declined"):  # a rejection goes the Python way
        fast.execute(_command("ann", "o3", CloseTrade(trade_id)))


def test_numbers_beyond_64_bits_take_the_reference_path_and_agree() -> None:
    native, reference = _engines(0, 100)
    for engine in (native, reference):
        engine.execute(_command("ann", "a", CreateAccount()))
        engine.accounts["ann"].balance = 2**90  # a fortune only arithmetic can reach
        engine.apply_tick(Tick("BTC_USDC", Price(2**40), Price(2**40 + 2), 1))
    answers = {}
    for order_id, body in (
        ("big", CreateTrade("BTC_USDC", Direction.LONG, Usd(2**80), 1000)),
        ("mid", CreateTrade("BTC_USDC", Direction.SHORT, Usd(2**53), 10)),
        ("price", CreateTrade("BTC_USDC", Direction.LONG, Usd(10**6), 10, None, Price(2**64))),
    ):
        answer = answers[order_id] = _feed(native, _command("ann", order_id, body))
        assert answer == _feed(reference, _command("ann", order_id, body))
        assert answer.response.ok is (order_id != "price")
    for engine in (native, reference):  # liquidates the SHORT
        engine.apply_tick(Tick("BTC_USDC", Price(2**62), Price(2**62 + 2), 2))
    big = _opened(answers["big"])
    assert _feed(native, _command("ann", "shut", CloseTrade(big))) == _feed(
        reference, _command("ann", "shut", CloseTrade(big))
    )
    assert native.state_hash() == reference.state_hash()
    assert native.trades == {} and native.accounts["ann"].balance > 2**100


@pytest.mark.parametrize("stop_loss", [None, 6 * 10**18])
def test_a_liquidation_price_beyond_int64_is_rejected_by_both(stop_loss: int | None) -> None:
    native, reference = _engines(0, 100)
    body = CreateTrade("BTC_USDC", Direction.SHORT, Usd(100), 10, stop_loss)
    for engine in (native, reference):
        engine.execute(_command("ann", "a", CreateAccount()))
        engine.apply_tick(Tick("BTC_USDC", Price(5 * 10**18), Price(5 * 10**18), 1))
    before = native.state_hash(include_idempotency=False)
    answer = _feed(native, _command("ann", "short", body))
    assert answer == _feed(reference, _command("ann", "short", body))
    assert answer.response.rejection.code.value == "INVALID_LEVERAGE"
    assert native.state_hash(include_idempotency=False) == before
    assert native.state_hash() == reference.state_hash()


def test_levels_of_an_int_subclass_close_alike() -> None:
    """The reference accepts a level that is a bool (no edge sends one); C must cope."""
    native, reference = _engines(0, 100)
    body = CreateTrade("BTC_USDC", Direction.SHORT, Usd(10_000), 10, None, True)  # type: ignore[arg-type]
    for engine in (native, reference):
        engine.execute(_command("ann", "a", CreateAccount()))
        engine.apply_tick(Tick("BTC_USDC", Price(500), Price(502), 1))
    opened = _feed(native, _command("ann", "o", body))
    assert opened == _feed(reference, _command("ann", "o", body)) and opened.response.ok
    close = CloseTrade(_opened(opened))
    closed = _feed(native, _command("ann", "c", close))
    assert closed == _feed(reference, _command("ann", "c", close)) and closed.response.ok
    assert native.state_hash() == reference.state_hash() and native.trades == {}


@pytest.mark.parametrize("ppm", [5_000.0, True, -1, 1_000_000])
def test_a_maintenance_rate_must_be_an_integer_ppm_below_one(ppm: Any) -> None:
    """A float would make the money math inexact (and the C path refuses it)."""
    with pytest.raises(ValueError, match="maintenance_margin_ppm"):
        Engine(ASSETS, maintenance_margin_ppm=ppm)


@settings(max_examples=examples(300, 5_000), deadline=None)
@given(st.text(max_size=200), st.text(max_size=300), st.none() | st.integers(0, 2**63 - 1))
def test_trade_ids_match_the_python_rule(user_id: str, order_id: str, seq: int | None) -> None:
    try:
        expected: Any = trade_id_for(user_id, order_id, seq)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            _native.trade_id(user_id, order_id, seq)
        return
    assert _native.trade_id(user_id, order_id, seq) == expected


@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 255, 256, 257, 1000])
@pytest.mark.parametrize("seq", [None, 0, 9, 10**18])
def test_trade_ids_hash_every_block_boundary(size: int, seq: int | None) -> None:
    user_id = "u" * size
    text = f"{user_id}\0o" if seq is None else f"{user_id}\0o\0{seq}"
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    assert _native.trade_id(user_id, "o", seq).replace("-", "") == digest


def test_a_replayed_legacy_command_is_declined_to_the_reference() -> None:
    """While `legacy_trade_ids` is set (a replay of a journal written under the older rule),
    creates go to the Python engine, which alone knows that rule."""
    engine, _ = _engines(0, 100)
    engine.execute(_command("ann", "a", CreateAccount()))
    engine.apply_tick(Tick("SOL_USDC", Price(100_000_000), Price(100_010_000), 1))
    engine.legacy_trade_ids = True
    old = engine.execute(_command("ann", "o", CreateTrade("SOL_USDC", Direction.LONG, Usd(1), 10)))
    engine.legacy_trade_ids = False
    new = engine.execute(_command("ann", "n", CreateTrade("SOL_USDC", Direction.LONG, Usd(1), 10)))
    assert _opened(old) == trade_id_for("ann", "o")
    assert _opened(new) == trade_id_for("ann", "n", engine.seq)
