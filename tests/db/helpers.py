"""Running a stream consumer in the background of a test, and waiting on its progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg

from gateway_svc.ledger.stream_consumer import StreamConsumer
from tests.polling import poll_async


@asynccontextmanager
async def running(consumer: StreamConsumer) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    await poll_async(condition, timeout_s=timeout_s, every_s=0.02)


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])
