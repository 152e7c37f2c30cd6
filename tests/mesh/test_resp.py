"""RespConnection's failure handling against a real Redis and a scripted stand-in server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import AuthenticationError, BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError

from mesh.resp import RespConnection
from tests.conftest import with_redis_database


@pytest.fixture
async def loading_server() -> AsyncIterator[int]:
    """Answers every command as a Redis still loading its data set does."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):
            writer.write(b"-LOADING Redis is loading the dataset in memory\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_a_loading_server_is_a_connection_error_not_a_reply(loading_server: int) -> None:
    conn = RespConnection(f"redis://127.0.0.1:{loading_server}/0")
    with pytest.raises(BusyLoadingError):
        await conn.command("XREAD", "BLOCK", 10, "STREAMS", "s", "0-0")
    assert isinstance(BusyLoadingError("x"), RedisConnectionError)  # what callers back off on
    conn.close()


async def test_a_refused_setup_never_leaves_a_connection_on_the_default_db(
    redis_url: str,
) -> None:
    conn = RespConnection(with_redis_database(redis_url, 99))  # no such database
    for _ in range(2):  # the second call must not run on db 0 over the first one's socket
        with pytest.raises(AuthenticationError, match="setup"):
            await conn.command("SET", "k", "v")
    conn.close()


def test_tls_is_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="TLS"):
        RespConnection("rediss://127.0.0.1:6380/0")
