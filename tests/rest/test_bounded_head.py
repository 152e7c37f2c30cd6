"""A request's head is bounded (gateway_svc.bounded_head): one that never ends its headers
gets 431 and is closed, instead of holding a worker's memory as it grows; ordinary requests,
keep-alive ones included, are served as before. Real uvicorn, real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from gateway_svc import bounded_head
from gateway_svc.bounded_head import BoundedHeadProtocol


async def ok(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    config = uvicorn.Config(
        ok, host="127.0.0.1", port=0, log_level="warning", lifespan="off", http=BoundedHeadProtocol
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def test_a_head_that_never_ends_is_refused_431(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # Past the bound, and never ended: no blank line.
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (bounded_head.MAX_HEAD_BYTES + 1))
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # then closed
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert answer.endswith(b"request headers are larger than 65536 bytes")
    writer.close()


async def test_a_large_body_in_the_same_read_is_not_taken_for_a_head(port: int) -> None:
    """The app bounds bodies (413); a body larger than the head's bound, sent with its head in
    one go, is the app's to refuse, not a 431."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"d" * (2 * bounded_head.MAX_HEAD_BYTES)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 200"), status
    writer.close()


async def test_ordinary_heads_and_keep_alive_are_served(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    header = b"X-Fine: " + b"b" * (bounded_head.MAX_HEAD_BYTES // 2) + b"\r\n"
    for _ in range(3):  # each request's head counts on its own
        body = b"c" * 1000
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\n" + header
            + b"Content-Length: %d\r\n\r\n" % len(body) + body
        )  # fmt: skip
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 200"), status
        while await reader.readline() != b"\r\n":
            pass
        assert await reader.readexactly(2) == b"ok"
    writer.close()
