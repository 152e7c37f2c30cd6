"""LevelIndex against a plain sorted list, with tiny chunks so splits and spans happen."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_svc.core._native import LevelIndex
from tests.core.driver import examples

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 12)),  # few levels: long runs of equal ones
        st.tuples(st.just("add"), st.integers(1, 12)),
        st.tuples(st.just("add_again"), st.integers(0, 10**6)),  # a duplicate pair
        st.tuples(st.just("remove"), st.integers(0, 10**6)),
        st.tuples(st.just("remove_missing"), st.integers(1, 12)),
        st.tuples(st.just("pop_from"), st.integers(0, 13)),
        st.tuples(st.just("pop_to"), st.integers(0, 13)),
        st.tuples(st.just("rebuild"), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=examples(200, 5_000))
@given(operations, st.sampled_from([2, 3, 4, 8]))
def test_level_index_matches_a_sorted_list(ops: list[tuple[str, int]], chunk: int) -> None:
    run(ops, chunk)


def run(ops: list[tuple[str, Any]], chunk: int) -> None:
    index = LevelIndex(chunk=chunk)
    model: list[tuple[int, int]] = []
    next_id = 0
    for op, arg in ops:
        if op == "add":
            next_id += 1
            pos_id = next_id * 7919 % 100_003  # unique, but not in insertion order
            index.add(arg, pos_id)
            model.append((arg, pos_id))
            model.sort()
        elif op == "add_again" and model:
            pair = model[arg % len(model)]
            index.add(*pair)
            model.append(pair)
            model.sort()
        elif op == "remove" and model:
            pair = model.pop(arg % len(model))
            index.remove(*pair)
        elif op == "remove_missing":
            with pytest.raises(KeyError):
                index.remove(arg, 100_003)  # ids are all below 100_003
        elif op == "pop_from":
            expected = [p for p in model if p[0] >= arg]
            assert index.pop_from(arg) == [p[1] for p in reversed(expected)]
            model = [p for p in model if p[0] < arg]
        elif op == "pop_to":
            expected = [p for p in model if p[0] <= arg]
            assert index.pop_to(arg) == [p[1] for p in expected]
            model = [p for p in model if p[0] > arg]
        elif op == "rebuild":
            index.rebuild(reversed(model))
        assert index.pairs() == model
        assert len(index) == len(model)
        assert index.min_level() == (model[0][0] if model else None)
        assert index.max_level() == (model[-1][0] if model else None)


def test_removing_a_missing_pair_raises_and_changes_nothing() -> None:
    index = LevelIndex([(5, 1), (5, 2), (7, 3)], chunk=2)
    before = index.pairs()
    for level, pos_id in [(5, 3), (6, 1), (7, 2), (8, 3), (4, 1)]:
        with pytest.raises(KeyError) as raised:
            index.remove(level, pos_id)
        assert raised.value.args == ((level, pos_id),)
        assert index.pairs() == before
        assert len(index) == 3
    with pytest.raises(KeyError):
        LevelIndex().remove(1, 1)


def test_levels_and_ids_are_signed_64_bit() -> None:
    index = LevelIndex()
    index.add(2**63 - 1, -(2**63))
    index.add(-(2**63), 2**63 - 1)
    assert index.pairs() == [(-(2**63), 2**63 - 1), (2**63 - 1, -(2**63))]
    for level, pos_id in [(2**63, 1), (1, 2**63), (-(2**63) - 1, 1), (10**30, 1)]:
        with pytest.raises(OverflowError):
            index.add(level, pos_id)
        with pytest.raises(OverflowError):
            index.remove(level, pos_id)
    with pytest.raises(OverflowError):
        index.pop_from(2**63)
    with pytest.raises(OverflowError):
        index.pop_to(-(2**63) - 1)
    with pytest.raises(OverflowError):
        index.rebuild([(1, 1), (2**63, 2)])
    with pytest.raises(OverflowError):
        LevelIndex([(2**64, 1)])
    with pytest.raises(TypeError):
        index.add(1.5, 1)  # type: ignore[arg-type]
    assert len(index) == 2  # a failed rebuild leaves the contents as they were


def test_chunk_must_be_at_least_two() -> None:
    for chunk in (1, 0, -5):
        with pytest.raises(ValueError):
            LevelIndex(chunk=chunk)
    assert len(LevelIndex([(1, 1)], 2)) == 1


def test_rebuild_sorts_a_large_unsorted_input() -> None:
    rnd = random.Random(7)
    pairs = [(rnd.randrange(-1000, 1000), rnd.randrange(10**12)) for _ in range(100_000)]
    pairs += pairs[:1000]  # duplicates stay
    for chunk in (3, 64, 1024):
        index = LevelIndex(iter(pairs), chunk=chunk)  # an iterator: no length up front
        assert index.pairs() == sorted(pairs)
        assert len(index) == len(pairs)
        index.rebuild(list(reversed(index.pairs())))
        assert index.pairs() == sorted(pairs)
    index.rebuild([])
    assert index.pairs() == [] and len(index) == 0


def test_min_and_max_level() -> None:
    index = LevelIndex(chunk=2)
    assert index.min_level() is None and index.max_level() is None
    assert not index
    index.add(5, 1)
    assert index.min_level() == index.max_level() == 5
    index.add(-3, 2)
    index.add(9, 3)
    assert (index.min_level(), index.max_level()) == (-3, 9)
    assert index.pop_to(100) == [2, 1, 3]
    assert index.min_level() is None and index.max_level() is None


def test_pop_orders() -> None:
    pairs = [(level, pos_id) for level in (1, 2, 2, 3, 5) for pos_id in (30, 10, 20)]
    for chunk in (2, 3, 1024):
        index = LevelIndex(pairs, chunk=chunk)
        # Highest pair first: level 5 down, ids descending within a level.
        assert index.pop_from(3) == [30, 20, 10, 30, 20, 10]
        assert index.pop_from(4) == []
        # Lowest pair first: level 1 up, ids ascending within a level (duplicates kept).
        assert index.pop_to(2) == [10, 20, 30, 10, 10, 20, 20, 30, 30]
        assert index.pairs() == [] and index.pop_to(100) == [] and index.pop_from(-100) == []
        index = LevelIndex(pairs, chunk=chunk)
        assert index.pop_to(0) == []
        assert index.pop_to(1) == [10, 20, 30]
        assert index.pop_from(2) == [30, 20, 10, 30, 20, 10, 30, 30, 20, 20, 10, 10]
        assert len(index) == 0


pair_lists = st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 30)), max_size=60)


@settings(max_examples=examples(200, 5_000))
@given(pair_lists, st.lists(pair_lists, max_size=5), st.sampled_from([2, 3, 1024]))
def test_absorb_moves_every_pair_and_empties_the_others(
    own: list[tuple[int, int]], others: list[list[tuple[int, int]]], chunk: int
) -> None:
    index = LevelIndex(own, chunk)
    donors = [LevelIndex(pairs, chunk) for pairs in others]
    index.absorb(*donors)
    assert index.pairs() == sorted(own + [p for pairs in others for p in pairs])
    assert len(index) == len(index.pairs()) and all(len(d) == 0 for d in donors)
    index.add(0, 0)  # still a working index
    assert (0, 0) in index.pairs()


def test_absorb_refuses_itself_twice_or_other_types() -> None:
    index, other = LevelIndex([(1, 1)]), LevelIndex([(2, 2)])
    for bad in ((index,), (other, other), (object(),)):
        with pytest.raises((TypeError, ValueError)):
            index.absorb(*bad)  # type: ignore[arg-type]
    assert index.pairs() == [(1, 1)] and other.pairs() == [(2, 2)]
