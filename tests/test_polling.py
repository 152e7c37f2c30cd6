"""The tests' one way of waiting (tests/polling.py): it returns what it waited for, and when
time runs out it fails naming what it waited for and what it last saw."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.polling import poll, poll_async


def test_returns_the_first_answer_that_holds() -> None:
    counter = itertools.count()
    assert poll(lambda: next(counter), lambda n: n >= 3, timeout_s=5, every_s=0) == 3


def test_asks_at_least_once_even_with_no_time() -> None:
    assert poll(lambda: "ready", timeout_s=0) == "ready"


def test_fails_with_what_it_waited_for_and_the_last_answer() -> None:
    with pytest.raises(AssertionError, match=r"3 rows: not within 0\.05 s; last seen: \[1, 2\]"):
        poll(lambda: [1, 2], lambda rows: len(rows) >= 3, timeout_s=0.05, what="3 rows")


def test_a_long_last_answer_is_cut_short() -> None:
    with pytest.raises(AssertionError) as failed:
        poll(lambda: "x" * 5000, lambda _: False, timeout_s=0)
    assert len(str(failed.value)) < 600 and str(failed.value).endswith("...")


def test_must_false_hands_back_the_last_answer() -> None:
    counter = itertools.count()
    last = poll(lambda: next(counter), lambda _: False, timeout_s=0.05, every_s=0.01, must=False)
    assert last >= 1


def test_an_assertion_inside_ask_ends_the_wait_at_once() -> None:
    def died() -> bool:
        raise AssertionError("the process exited")

    with pytest.raises(AssertionError, match="the process exited"):
        poll(died, timeout_s=60)


async def test_async_awaits_a_coroutine_ask_and_lets_the_loop_run() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, done.set)

    async def is_done() -> bool:
        return done.is_set()

    assert await poll_async(is_done, timeout_s=5) is True
    assert await poll_async(done.is_set, timeout_s=0) is True


async def test_async_fails_like_the_sync_one() -> None:
    with pytest.raises(AssertionError, match=r"the price: not within 0\.05 s; last seen: None"):
        await poll_async(lambda: None, timeout_s=0.05, what="the price")
