"""Giving up on work without waiting for its cancellation, and without losing its outcome."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from mesh import abandon


async def slow_to_cancel(ended: asyncio.Event) -> None:
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        await asyncio.sleep(0.5)  # a driver's cancellation that takes its time
        ended.set()
        raise RuntimeError("the cancellation failed too") from None  # nobody waits for it


async def test_a_timeout_returns_at_once_and_the_work_ends_on_its_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended = asyncio.Event()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await abandon.within(slow_to_cancel(ended), 0.05)
    assert time.monotonic() - started < 0.4
    await asyncio.wait_for(ended.wait(), 5)
    await asyncio.sleep(0)
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_the_answer_and_the_error_come_through() -> None:
    async def answer() -> int:
        return 7

    async def fails() -> None:
        raise ValueError("no")

    assert await abandon.within(answer(), 1) == 7
    with pytest.raises(ValueError, match="no"):
        await abandon.within(fails(), 1)


async def test_a_caller_cancelled_while_waiting_abandons_the_work() -> None:
    ended = asyncio.Event()
    waiting = asyncio.create_task(abandon.within(slow_to_cancel(ended), 60))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(ended.wait(), 5)  # the work was cancelled, not left running
