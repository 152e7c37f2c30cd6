"""Small shared pieces for the poller tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TypeVar

T = TypeVar("T")


class FakeTime:
    """A sleep that records what it was asked and moves a fake monotonic clock instead."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.requested: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.requested.append(delay)
        self.now += delay
        await asyncio.sleep(0)  # still let other tasks run


async def take(source: AsyncIterable[T], count: int, timeout: float = 10.0) -> list[T]:
    """The first `count` items, then the iterator is closed (as the poller does on stop)."""

    async def collect() -> list[T]:
        items: list[T] = []
        iterator = aiter(source)
        try:
            async for item in iterator:
                items.append(item)
                if len(items) == count:
                    break
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]
        return items

    return await asyncio.wait_for(collect(), timeout)
