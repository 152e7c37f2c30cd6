"""Waiting for an answer without waiting for its cancellation.

`asyncio.wait_for` cancels what timed out and then waits for it to end, which a client's own
cancellation can make long: psycopg cancelling a query on a frozen Postgres took 10 s. Here
the work given up on is cancelled and left to end on its own, its outcome retrieved so that
no "exception was never retrieved" is logged for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(work: Awaitable[T], timeout_s: float) -> T:
    """`work`'s result, or TimeoutError after `timeout_s`; either way, and when the caller is
    itself cancelled, no later than that. Pass a task to learn when abandoned work has ended."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        abandon(task)
        raise
    if not done:
        abandon(task)
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    return task.result()


def abandon(task: asyncio.Future[T]) -> None:
    """Cancel `task` and let it end however it ends, unwatched."""
    task.cancel()
    task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[T]) -> None:
    if not task.cancelled():
        task.exception()
