"""A repeated order id gets its first answer back and changes nothing; memory is bounded."""

from __future__ import annotations

import pytest

from engine_svc.core import Engine
from engine_svc.core.types import (
    CloseTrade,
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


def test_a_flood_of_other_users_commands_does_not_push_a_users_answer_out() -> None:
    """The attack of issue 14: with one global window (100,000 answers by default), others'
    traffic made ann's retry run again; each user now keeps its own last answers."""
    d = Driver()
    d.tick(SOL, 200_000_000)
    d.account("ann")
    first = d.run("ann", CreateTrade(SOL, Direction.LONG, usd("10"), 100), order_id="t1")
    assert first.response is not None and first.response.ok
    for user in ("bob", "cy", "dee"):
        d.account(user)
    for n in range(102_000):  # rejected closes: cheap for the flooders, each one remembered
        d.run(("bob", "cy", "dee")[n % 3], CloseTrade("no-such-trade"))
    assert len(d.engine.orders) == 1 + 1 + 3 * 1_000 and d.engine.orders.held("ann") == 2
    state, seq, event_seq = d.engine.state_hash(), d.engine.seq, d.engine.event_seq
    again = d.run("ann", CreateTrade(SOL, Direction.LONG, usd("10"), 100), order_id="t1")
    assert again.response == first.response and again.events == []
    assert (d.engine.state_hash(), d.engine.seq, d.engine.event_seq) == (state, seq, event_seq)
    assert len(d.engine.accounts["ann"].open) == 1


@pytest.mark.parametrize("native", [True, False])
def test_a_users_own_traffic_forgets_only_its_own_oldest(native: bool) -> None:
    d = Driver(Engine(ASSETS, idempotency_per_user=2, native=native))
    d.answer("ann", CreateAccount(), order_id="a1")
    d.answer("bob", CreateAccount(), order_id="b1")
    d.answer("ann", CreateAccount(), order_id="a2")
    d.answer("ann", CreateAccount(), order_id="a3")  # ann's third: a1 goes, b1 stays
    assert [key for key, _ in d.engine.orders.responses()] == [
        ("bob", "b1"),
        ("ann", "a2"),
        ("ann", "a3"),
    ]
    forgotten = d.answer("ann", CreateAccount(), order_id="a1")
    assert forgotten.rejection is not None
    assert forgotten.rejection.code is RejectCode.ACCOUNT_EXISTS
    assert d.answer("bob", CreateAccount(), order_id="b1").ok  # still bob's first answer


def test_restore_and_replay_keep_each_users_memory_and_its_eviction_order() -> None:
    def build() -> Engine:
        return Engine(ASSETS, idempotency_per_user=3)

    d = Driver(build())
    d.tick(SOL, 200_000_000)
    users = ("ann", "bob", "cy")
    for user in users:
        d.account(user)
    for n in range(20):  # interleaved, so each user's answers sit apart in the memory
        d.open(users[n % 3 if n % 4 else 0], SOL, Direction.LONG, usd("1"), order_id=f"o{n}")
    restored = Engine.restore(d.engine.snapshot(), ASSETS, idempotency_per_user=3)
    replayed = build()
    for item in d.inputs:
        if isinstance(item, Command):
            replayed.execute(item)
        else:
            replayed.apply_tick(item)
    engines = (d.engine, restored, replayed)
    assert len({engine.state_hash() for engine in engines}) == 1
    for n, user in enumerate(("ann", "ann", "cy", "bob")):  # each evicts its user's oldest
        command = Command(f"later{n}", user, f"{user}@example.com", 10_000 + n, CreateAccount())
        answers = {str(engine.execute(command)) for engine in engines}
        assert len(answers) == 1
        assert len({engine.state_hash() for engine in engines}) == 1
    assert all(engine.orders.held(user) == 3 for user in users for engine in engines)


@pytest.mark.parametrize("first_ended", [False, True])
def test_an_order_id_the_memory_forgot_opens_a_trade_of_its_own(first_ended: bool) -> None:
    """Past the order memory an order id is new again, and its trade gets an id of its own:
    with ids from the order id alone, it took the id of the first trade, whose ended history
    in Postgres the new trade then overwrote (the security review's finding)."""
    d = Driver(Engine(ASSETS, idempotency_per_user=1))
    d.account("ann")
    d.tick(SOL, 200_000_000)
    first = d.opened("ann", SOL, Direction.LONG, usd("1"), 10, order_id="t")
    if first_ended:
        assert d.close("ann", first.trade_id, order_id="c").ok
    d.account("ann")  # ann's own next command pushes ("ann", "t") out of a memory of one
    again = d.opened("ann", SOL, Direction.LONG, usd("1"), 10, order_id="t")
    assert again.trade_id != first.trade_id
    assert len(d.engine.positions) == (1 if first_ended else 2)


def test_under_the_legacy_rule_a_reused_order_id_with_its_trade_open_is_refused() -> None:
    """A journal written before trade ids carried their seq replays under the old rule."""
    d = Driver(Engine(ASSETS, idempotency_per_user=1))
    d.engine.legacy_trade_ids = True
    d.account("ann")
    d.tick(SOL, 200_000_000)
    d.opened("ann", SOL, Direction.LONG, usd("1"), 10, order_id="t")
    d.account("ann")
    again = d.open("ann", SOL, Direction.LONG, usd("1"), 10, order_id="t")
    assert again.rejection is not None
    assert again.rejection.code is RejectCode.INVALID_ARGUMENT
    assert len(d.engine.positions) == 1


def test_a_zero_bound_remembers_nothing() -> None:
    d = Driver(Engine(ASSETS, idempotency_per_user=0))
    d.answer("ann", CreateAccount(), order_id="o1")
    assert len(d.engine.orders) == 0
    assert not d.answer("ann", CreateAccount(), order_id="o1").ok


def test_a_snapshot_of_the_global_window_loads_into_per_user_memory() -> None:
    """Formats 1 and 2 from before: config "idempotency_window", answers oldest first."""
    d = Driver(Engine(ASSETS, idempotency_per_user=5))
    for n in range(6):
        d.answer(("ann", "bob")[n % 2], CreateAccount(), order_id=f"o{n}")
    data = d.engine.snapshot()
    config = {k: v for k, v in data["config"].items() if k != "idempotency_per_user"}
    for fmt in (1, 2):
        old = {**data, "format": fmt, "config": {**config, "idempotency_window": 100_000}}
        restored = Engine.restore(old, ASSETS, idempotency_per_user=2)
        assert [key for key, _ in restored.orders.items()] == [
            ("ann", "o2"),
            ("bob", "o3"),
            ("ann", "o4"),
            ("bob", "o5"),
        ]
