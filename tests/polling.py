"""Waiting in tests for what another process does: ask again until the answer is the one
wanted, and when time runs out, fail with what was last seen.

    rows = poll(lambda: fetch_rows(), lambda rows: len(rows) >= 3, timeout_s=20, what="3 rows")
    poll(lambda: "ready" in log(), timeout_s=30, what="the engine's ready line")

`ask` may raise AssertionError itself (a process that died while we waited): that ends the
wait at once with its own message. With `must=False` the last answer comes back even when
`until` never held, for a caller whose own assertion on it says more than a timeout would.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

_SHOWN = 500  # characters of the last answer in a failure message


def _gave_up(what: str, timeout_s: float, last: object) -> AssertionError:
    seen = repr(last)
    if len(seen) > _SHOWN:
        seen = seen[:_SHOWN] + "..."
    return AssertionError(f"{what}: not within {timeout_s:g} s; last seen: {seen}")


def poll(
    ask: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout_s: float,
    what: str = "the condition",
    every_s: float = 0.1,
    must: bool = True,
) -> T:
    """`ask()` every `every_s` until `until(answer)` holds, asking at least once; returns
    that answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = ask()
        if until(answer):
            return answer
        if time.monotonic() >= deadline:
            if must:
                raise _gave_up(what, timeout_s, answer)
            return answer
        time.sleep(every_s)


async def poll_async(
    ask: Callable[[], Awaitable[T] | T],
    until: Callable[[T], object] = bool,
    *,
    timeout_s: float,
    what: str = "the condition",
    every_s: float = 0.05,
    must: bool = True,
) -> T:
    """`poll` inside an event loop: `ask` may be a coroutine function, and the waits between
    asks let the loop run what is being waited for."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = ask()
        if inspect.isawaitable(answer):
            answer = await answer
        if until(answer):  # type: ignore[arg-type]
            return answer  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            if must:
                raise _gave_up(what, timeout_s, answer)
            return answer  # type: ignore[return-value]
        await asyncio.sleep(every_s)
