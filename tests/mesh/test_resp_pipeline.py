"""RespPipeline against a real Redis: batching, replies in order, errors kept to their own
command, a lost connection survived, and a clean close."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mesh.embedded import free_port
from mesh.resp import options_of, pack
from mesh.resp_pipeline import RespPipeline
from tests.redis_admin import kill_connections


async def test_concurrent_calls_share_round_trips_and_keep_their_order(redis_url: str) -> None:
    pipeline = RespPipeline(redis_url, name="test")
    try:
        replies = await asyncio.gather(*(pipeline.call("INCR", "n") for _ in range(50)))
        assert replies == list(range(1, 51))
        assert pipeline.commands == 50
        assert pipeline.batches < 50
    finally:
        await pipeline.aclose()


async def test_an_error_reply_fails_only_its_own_command(redis_url: str) -> None:
    pipeline = RespPipeline(redis_url, name="test")
    try:
        await pipeline.call("SET", "word", "abc")
        results = await asyncio.gather(
            pipeline.call("INCR", "n"),
            pipeline.call("INCR", "word"),
            pipeline.call("INCR", "n"),
            return_exceptions=True,
        )
        assert results[0] == 1 and results[2] == 2
        assert isinstance(results[1], ResponseError)
    finally:
        await pipeline.aclose()


async def test_a_killed_connection_is_replaced_without_failing_the_command(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    pipeline = RespPipeline(options_of(client), name="test")  # as the gateway makes them
    await client.aclose()
    try:
        assert await pipeline.call("PING") == b"PONG"
        assert await kill_connections(redis_url) >= 1
        assert await pipeline.call("INCR", "n") == 1
    finally:
        await pipeline.aclose()


async def test_a_redis_that_is_not_there_fails_the_call() -> None:
    pipeline = RespPipeline(f"redis://127.0.0.1:{free_port()}/0", name="test")
    try:
        with pytest.raises(RedisConnectionError):
            await pipeline.call("PING")
    finally:
        await pipeline.aclose()


async def test_close_answers_what_was_handed_over_then_refuses(redis_url: str) -> None:
    pipeline = RespPipeline(redis_url, name="test")
    told: list[object] = []
    for _ in range(3):
        pipeline.submit(pack("INCR", "n"), told.append)
    await pipeline.aclose()
    assert told == [1, 2, 3]
    pipeline.submit(pack("INCR", "n"), told.append)
    assert isinstance(told[-1], RedisConnectionError)
    with pytest.raises(RedisConnectionError):
        await pipeline.call("PING")


async def test_a_server_that_never_answers_fails_the_batch_in_time() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pipeline = RespPipeline(f"redis://127.0.0.1:{port}/0", name="test", reply_timeout_s=0.3)
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(pipeline.call("PING"), 5)
    finally:
        await pipeline.aclose()
        server.close()


async def test_a_command_nobody_wants_any_more_is_not_sent(redis_url: str) -> None:
    pipeline = RespPipeline(redis_url, name="test")
    told: list[object] = []
    try:
        pipeline.submit(pack("INCR", "n"), told.append, lambda: False)
        assert await pipeline.call("INCR", "n") == 1  # the first INCR never reached Redis
        assert told == []
    finally:
        await pipeline.aclose()
