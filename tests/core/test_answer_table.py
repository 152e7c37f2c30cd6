"""AnswerTable against a dict plus a deque of keys per user, with tiny per-user bounds so
evictions never stop."""

from __future__ import annotations

import gc
import operator
import sys
import weakref
from collections import deque
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine_svc.core._native import AnswerTable
from engine_svc.core.idempotency import OrderMemory
from engine_svc.core.types import AccountCreated, RejectCode, Rejection, Response, Usd
from tests.core.driver import examples

Key = tuple[str, str]

# Few users and order ids, so keys repeat; strs of each kind (1, 2 and 4 bytes a character),
# of equal and of different lengths, so comparing them goes all the way.
USERS = ("ann", "bob", "zoë", "жан", "жаш", "🙂x")
ORDERS = ("o1", "o2", "o22", "ж1", "🙂1", "🙂2")


def fresh(s: str) -> str:
    """An equal str that is a different object, so a lookup cannot succeed on identity."""
    copy = "".join(["", s])
    assert copy == s and copy is not s
    return copy


keys = st.builds(
    lambda user, order, copy: (fresh(user), fresh(order)) if copy else (user, order),
    st.sampled_from(USERS),
    st.sampled_from(ORDERS),
    st.booleans(),
)


class AnswerTableModel(RuleBasedStateMachine):
    """The model: answers by key, each user's keys oldest first, and all keys in put order."""

    def __init__(self) -> None:
        super().__init__()
        self.table = AnswerTable(0)
        self.answers: dict[Key, tuple[Any, ...]] = {}
        self.per_user_fifo: dict[str, deque[Key]] = {}
        self.order: list[Key] = []
        self.per_user = 0
        self.count = 0

    @initialize(per_user=st.one_of(st.integers(0, 4), st.integers(7, 20)))
    def make(self, per_user: int) -> None:
        self.table = AnswerTable(per_user)
        self.per_user = per_user

    @rule(key=keys)
    def put(self, key: Key) -> None:
        self.count += 1
        encoded = (self.count, "A", key[1])
        if key in self.answers:
            with pytest.raises(ValueError):
                self.table.put(key, encoded)
            return
        self.table.put(key, encoded)
        if self.per_user:
            self.answers[key] = encoded
            self.order.append(key)
            fifo = self.per_user_fifo.setdefault(key[0], deque())
            fifo.append(key)
            if len(fifo) > self.per_user:
                gone = fifo.popleft()
                del self.answers[gone]
                self.order.remove(gone)

    @rule(user=st.sampled_from(USERS), count=st.integers(1, 30))
    def put_run(self, user: str, count: int) -> None:
        """Many new order ids of one user: its ring grows past what a record holds in itself,
        then wraps as its oldest go."""
        for _ in range(count):
            self.put((fresh(user), f"run{self.count}"))

    @rule(key=keys)
    def contains(self, key: Key) -> None:
        assert (key in self.table) is (key in self.answers)

    @rule(key=keys)
    def get(self, key: Key) -> None:
        assert self.table.get(key) is self.answers.get(key)

    @rule(user=st.sampled_from(USERS))
    def held(self, user: str) -> None:
        assert self.table.held(fresh(user)) == len(self.per_user_fifo.get(user, ()))

    @rule()
    def iterate_partly(self) -> None:
        items = self.table.items()
        assert operator.length_hint(items) == len(self.order)
        for (key, encoded), expected in zip(items, self.order, strict=False):
            assert key == expected and encoded is self.answers[expected]
            break

    @rule()
    def rebuild(self) -> None:
        """What a snapshot does: the items, oldest first, into a fresh table, which then
        behaves as the old one (the model stays as it is)."""
        copy = AnswerTable(self.per_user)
        for key, encoded in self.table.items():
            copy.put(key, encoded)
        assert list(copy.items()) == list(self.table.items())
        self.table = copy

    @invariant()
    def same_contents_in_the_same_order(self) -> None:
        assert len(self.table) == len(self.order)
        assert [key for key, _ in self.table.items()] == self.order
        assert all(encoded is self.answers[key] for key, encoded in self.table.items())
        assert self.table.users == len(self.per_user_fifo)


AnswerTableModel.TestCase.settings = settings(
    max_examples=examples(200, 5_000), stateful_step_count=60, deadline=None
)
test_answer_table_matches_a_dict_and_a_deque_per_user = AnswerTableModel.TestCase


@pytest.mark.parametrize(
    ("count", "users", "per_user"),
    [(50_000, 97, 200), (50_000, 97, 1_000), (50_000, 5_000, 3), (20_000, 20_000, 1), (30, 7, 100)],
)
def test_many_keys_through_growth_and_eviction(count: int, users: int, per_user: int) -> None:
    user_ids = [f"user{i % users}" for i in range(count)]
    table = AnswerTable(per_user)
    answers = [(i, "A", f"mail{i}") for i in range(count)]
    for i in range(count):
        table.put((user_ids[i], f"order{i}"), answers[i])

    def remembered(i: int) -> bool:  # fewer than per_user later puts by the same user
        return (count - 1 - i) // users < per_user

    kept = [i for i in range(count) if remembered(i)]
    assert len(table) == len(kept) and table.users == min(users, count)
    for i in range(count):
        key = (user_ids[i], f"order{i}")  # new strs, equal to the stored ones
        assert (key in table) is remembered(i)
        assert table.get(key) is (answers[i] if remembered(i) else None)
        assert (user_ids[i], f"other{i}") not in table
    assert list(table.items()) == [((user_ids[i], f"order{i}"), answers[i]) for i in kept]


def test_other_users_cannot_push_a_users_answer_out() -> None:
    table = AnswerTable(2)
    table.put(("ann", "o1"), (1,))
    for i in range(100_000):  # far more than any global window held
        table.put((f"user{i % 1_000}", f"order{i}"), (i,))
    assert table.get(("ann", "o1")) == (1,) and table.held("ann") == 1
    assert len(table) == 1 + 2_000 and table.users == 1_001
    table.put(("ann", "o2"), (2,))
    table.put(("ann", "o3"), (3,))  # ann's own third evicts only ann's oldest
    assert ("ann", "o1") not in table and len(table) == 2 + 2_000
    assert [key for key, _ in table.items()][-2:] == [("ann", "o2"), ("ann", "o3")]


def test_a_zero_bound_remembers_nothing() -> None:
    table = AnswerTable(0)
    table.put(("ann", "o1"), (1, "A"))
    assert len(table) == 0 and not table and table.per_user == 0 and table.users == 0
    assert ("ann", "o1") not in table and table.get(("ann", "o1")) is None
    assert list(table.items()) == []
    with pytest.raises(TypeError):
        table.put(("ann", 1), (1,))  # type: ignore[arg-type]  # still checked


def test_the_bound_must_be_a_non_negative_int() -> None:
    with pytest.raises(ValueError, match="must be >= 0, got -1"):
        AnswerTable(-1)
    with pytest.raises(ValueError):
        AnswerTable(2**31)
    with pytest.raises(OverflowError):
        AnswerTable(2**70)
    with pytest.raises(TypeError):
        AnswerTable("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AnswerTable()  # type: ignore[call-arg]
    assert AnswerTable(per_user=5).per_user == 5
    with pytest.raises(AttributeError):
        AnswerTable(5).per_user = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        AnswerTable(5).held(Name("ann"))


class Name(str):
    pass


@pytest.mark.parametrize(
    "key",
    [
        "ann",
        ("ann",),
        ("ann", "o1", "x"),
        ["ann", "o1"],
        None,
        ("ann", 1),
        (1, "o1"),
        (Name("ann"), "o1"),
        ("ann", b"o1"),
    ],
)
def test_a_key_that_is_not_a_pair_of_strs_is_a_type_error(key: Any) -> None:
    table = AnswerTable(4)
    table.put(("ann", "o1"), (1,))
    with pytest.raises(TypeError):
        key in table  # noqa: B015
    with pytest.raises(TypeError):
        table.get(key)
    with pytest.raises(TypeError):
        table.put(key, (2,))
    assert len(table) == 1


def test_put_wants_a_tuple_and_a_new_key() -> None:
    table = AnswerTable(4)
    table.put(("ann", "o1"), (1, "A"))

    class Answer(tuple[Any, ...]):
        pass

    for encoded in ([1, "A"], Answer((1, "A")), None):
        with pytest.raises(TypeError):
            table.put(("ann", "o2"), encoded)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already remembered"):
        table.put((fresh("ann"), fresh("o1")), (2, "A"))
    with pytest.raises(TypeError):
        table.put(("ann", "o2"))  # type: ignore[call-arg]
    assert list(table.items()) == [(("ann", "o1"), (1, "A"))]


def test_changing_the_table_during_items_raises() -> None:
    table = AnswerTable(3)
    for i in range(3):
        table.put(("ann", f"o{i}"), (i,))
    items = table.items()
    assert next(items) == (("ann", "o0"), (0,))
    table.put(("ann", "o3"), (3,))  # evicts o0
    for _ in range(2):  # and stays an error, as a dict's iterator does
        with pytest.raises(RuntimeError, match="changed during iteration"):
            next(items)
    assert operator.length_hint(items) == 0

    unstarted = table.items()
    table.put(("ann", "o4"), (4,))
    with pytest.raises(RuntimeError):
        next(unstarted)

    done = table.items()
    assert len(list(done)) == 3
    table.put(("ann", "o5"), (5,))
    with pytest.raises(StopIteration):  # an exhausted iterator stays exhausted
        next(done)

    failed = table.items()
    with pytest.raises(ValueError):
        table.put(("ann", "o5"), (5,))  # a refused put changes nothing
    assert [key[1] for key, _ in failed] == ["o3", "o4", "o5"]


def test_references_come_back_after_eviction_and_after_the_table_goes() -> None:
    user = fresh("user")
    encoded = tuple([1, "A", "mail"])  # made at run time: tracked by the collector until put
    assert gc.is_tracked(encoded)
    orders = [f"order{i}" for i in range(100_000)]

    def counts() -> list[int]:
        return [sys.getrefcount(order) for order in orders]

    user_before, encoded_before, orders_before = (
        sys.getrefcount(user),
        sys.getrefcount(encoded),
        counts(),
    )
    table = AnswerTable(1_000)
    for order in orders:
        table.put((user, order), encoded)
    del order
    assert not gc.is_tracked(encoded)
    assert sys.getrefcount(user) == user_before + 1_001  # its answers and its record
    assert sys.getrefcount(encoded) == encoded_before + 1_000
    kept = [before + 1 for before in orders_before[-1_000:]]
    assert counts() == orders_before[:-1_000] + kept

    assert len(list(table.items())) == 1_000
    assert (sys.getrefcount(user), sys.getrefcount(encoded)) == (
        user_before + 1_001,
        encoded_before + 1_000,
    )
    items = table.items()
    next(items)
    del table  # the iterator holds the table
    assert sys.getrefcount(encoded) == encoded_before + 1_000
    del items
    assert sys.getrefcount(user) == user_before
    assert sys.getrefcount(encoded) == encoded_before
    assert counts() == orders_before


def test_subclasses() -> None:
    class Slotted(AnswerTable):
        __slots__ = ()

    table = Slotted(2)
    table.put(("ann", "o1"), (1,))
    assert ("ann", "o1") in table and table.per_user == 2 and len(table) == 1

    class WithDict(AnswerTable):
        pass

    # A subclass with a __dict__ is tracked, and a cycle through an items() iterator goes.
    cyclic = WithDict(2)
    cyclic.put(("ann", "o1"), (1,))
    cyclic.items_ = cyclic.items()  # type: ignore[attr-defined]
    gone = weakref.ref(cyclic)
    del cyclic
    gc.collect()
    assert gone() is None


def test_order_memory_decodes_what_it_encodes() -> None:
    memory = OrderMemory(2)
    accepted = Response("o1", 1, data=AccountCreated("ann@example.com", Usd(10)))
    rejected = Response("o2", 2, rejection=Rejection(RejectCode.ACCOUNT_EXISTS, "exists"))
    memory.remember(("ann", "o1"), accepted)
    memory.load(("ann", "o2"), [2, "R", RejectCode.ACCOUNT_EXISTS.value, "exists"])
    assert memory.per_user == 2 and len(memory) == 2 and ("ann", "o1") in memory
    assert memory.recall(("ann", "o1")) == accepted
    assert memory.recall(("ann", "o2")) == rejected
    assert memory.recall(("bob", "o1")) is None
    assert list(memory.responses()) == [(("ann", "o1"), accepted), (("ann", "o2"), rejected)]
    assert [key for key, _ in memory.items()] == [("ann", "o1"), ("ann", "o2")]
    memory.remember(("ann", "o3"), accepted)
    assert ("ann", "o1") not in memory and len(memory) == 2
    nothing = OrderMemory(0)
    nothing.remember(("ann", "o1"), accepted)
    nothing.load(("ann", "o1"), [1, "A", "ann@example.com", 10])
    assert len(nothing) == 0
    with pytest.raises(ValueError):
        OrderMemory(-1)
