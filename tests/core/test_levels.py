"""LevelIndex against a plain sorted list, with tiny chunks so splits and spans happen."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_svc.core import levels
from engine_svc.core.levels import LevelIndex
from tests.core.driver import examples

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 12)),  # few levels: long runs of equal ones
        st.tuples(st.just("add"), st.integers(1, 12)),
        st.tuples(st.just("remove"), st.integers(0, 10**6)),
        st.tuples(st.just("pop_from"), st.integers(0, 13)),
        st.tuples(st.just("pop_to"), st.integers(0, 13)),
        st.tuples(st.just("rebuild"), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=examples(200, 5_000))
@given(operations, st.sampled_from([2, 3, 4, 8]))
def test_level_index_matches_a_sorted_list(ops: list[tuple[str, int]], chunk: int) -> None:
    saved = levels.CHUNK
    levels.CHUNK = chunk
    try:
        run(ops)
    finally:
        levels.CHUNK = saved


def run(ops: list[tuple[str, Any]]) -> None:
    index = LevelIndex()
    model: list[tuple[int, int]] = []
    next_id = 0
    for op, arg in ops:
        if op == "add":
            next_id += 1
            pos_id = next_id * 7919 % 100_003  # unique, but not in insertion order
            index.add(arg, pos_id)
            model.append((arg, pos_id))
            model.sort()
        elif op == "remove" and model:
            pair = model.pop(arg % len(model))
            index.remove(*pair)
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


def test_removing_a_missing_pair_raises() -> None:
    index = LevelIndex([(5, 1), (5, 2), (7, 3)])
    with pytest.raises(KeyError):
        index.remove(5, 3)
    with pytest.raises(KeyError):
        index.remove(6, 1)
    with pytest.raises(KeyError):
        LevelIndex().remove(1, 1)
