"""A repeated order id gets its first answer back and changes nothing; memory is bounded."""

from __future__ import annotations

import pytest

from engine_svc.core import Engine
from engine_svc.core.types import (
    Command,
    CreateAccount,
    CreateTrade,
    Direction,
    GetUsdBalance,
    RejectCode,
)
from tests.core.driver import ASSETS, Driver, usd

SOL = "SOL_USDC"


def test_repeated_order_ids_return_the_first_response_and_change_nothing() -> None:
    d = Driver()
    first_account = d.run("ann", CreateAccount(), order_id="a1")
    d.tick(SOL, 200_000_000)
    opened = d.run("ann", CreateTrade(SOL, Direction.LONG, usd("10"), 100), order_id="t1")
    rejected = d.open("ann", SOL, Direction.LONG, usd("1"), leverage=5, order_id="bad")
    d.tick(SOL, 200_000_000)  # a tick between retries must not matter either
    state, seq, event_seq = d.engine.state_hash(), d.engine.seq, d.engine.event_seq
    for order_id, expected in (
        ("a1", first_account.response),
        ("t1", opened.response),
        ("bad", rejected),
    ):
        again = d.run("ann", CreateAccount(), order_id=order_id)  # any body: the id decides
        assert again.response == expected and again.events == []
    assert (d.engine.state_hash(), d.engine.seq, d.engine.event_seq) == (state, seq, event_seq)


def test_order_ids_are_per_user() -> None:
    d = Driver()
    ann = d.answer("ann", CreateAccount(), order_id="same")
    bob = d.answer("bob", CreateAccount(), order_id="same")
    assert ann.ok and bob.ok and ann is not bob
    assert set(d.engine.accounts) == {"ann", "bob"}


@pytest.mark.parametrize("native", [True, False])
def test_ids_that_are_not_plain_strs_raise_before_anything_changes(native: bool) -> None:
    class Name(str):
        pass

    engine = Engine(ASSETS, native=native)
    before = engine.state_hash()
    with pytest.raises(TypeError, match="tuples of two strs"):
        engine.execute(Command("o1", Name("ann"), "ann@x", 1, CreateAccount()))
    assert engine.state_hash() == before and engine.seq == 0 and not engine.accounts


def test_queries_are_not_remembered_and_do_not_count() -> None:
    d = Driver()
    d.account("ann")
    seq, remembered = d.engine.seq, len(d.engine.orders)
    first = d.answer("ann", GetUsdBalance(), order_id="q")
    second = d.answer("ann", GetUsdBalance(), order_id="q")
    assert first == second and first is not second and first.seq == 0
    assert (d.engine.seq, len(d.engine.orders)) == (seq, remembered)


def test_the_memory_forgets_the_oldest_beyond_its_window() -> None:
    d = Driver(Engine(ASSETS, idempotency_window=2))
    d.answer("ann", CreateAccount(), order_id="o1")
    d.answer("bob", CreateAccount(), order_id="o2")
    d.answer("cy", CreateAccount(), order_id="o3")
    assert [key for key, _ in d.engine.orders.responses()] == [("bob", "o2"), ("cy", "o3")]
    forgotten = d.answer("ann", CreateAccount(), order_id="o1")
    assert forgotten.rejection is not None
    assert forgotten.rejection.code is RejectCode.ACCOUNT_EXISTS
    restored = Engine.restore(d.engine.snapshot(), ASSETS, idempotency_window=2)
    assert restored.state_hash() == d.engine.state_hash()


def test_a_reused_order_id_cannot_open_a_second_trade_with_the_same_id() -> None:
    d = Driver(Engine(ASSETS, idempotency_window=1))
    d.account("ann")
    d.tick(SOL, 200_000_000)
    d.opened("ann", SOL, Direction.LONG, usd("1"), 10, order_id="t")
    d.account("bob")  # pushes ("ann", "t") out of a window of one
    again = d.open("ann", SOL, Direction.LONG, usd("1"), 10, order_id="t")
    assert again.rejection is not None
    assert again.rejection.code is RejectCode.INVALID_ARGUMENT
    assert len(d.engine.positions) == 1


def test_a_zero_window_remembers_nothing() -> None:
    d = Driver(Engine(ASSETS, idempotency_window=0))
    d.answer("ann", CreateAccount(), order_id="o1")
    assert len(d.engine.orders) == 0
    assert not d.answer("ann", CreateAccount(), order_id="o1").ok
