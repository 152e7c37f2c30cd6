"""Commands from many tasks over one Redis connection, in batches.

A request handler that awaits its own Redis command pays a round trip and, through redis-py,
about 100 µs of Python for it. Here handlers hand over packed commands and go on waiting:
the commands handed over while one batch is out leave together as the next, one write and
one read for all of them. A lone command leaves at once (no timer, no added latency), and no
task lives while nothing is queued.

Each command's `Done` is told its reply: the value, a `ResponseError` value for an error
reply, or the connection's error when the batch could not be sent or answered.

A batch whose connection fails is sent once more on a new connection (Redis closes idle
connections, and restarts): the commands handed over must be safe to repeat, as an XADD of
an engine command is (the engine answers an order id once) and a rate-limit take is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from mesh.resp import RespConnection, pack

log = logging.getLogger(__name__)

Done = Callable[[Any], None]
"""Told one command's reply: a value, a ResponseError value, or the batch's connection error."""

CLOSE_TIMEOUT_S = 2.0


class RespPipeline:
    def __init__(self, address: str | dict[str, Any], *, name: str) -> None:
        self._conn = RespConnection(address)
        self._name = name
        self._pending: list[tuple[bytes, Done]] = []
        self._in_flight: list[tuple[bytes, Done]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.commands = 0

    def submit(self, packed: bytes, done: Done) -> None:
        """Queue one packed command (`mesh.resp.pack`); `done` hears its reply."""
        if self._closed:
            done(RedisConnectionError(f"{self._name} is closed"))
            return
        self._pending.append((packed, done))
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._drain())

    async def call(self, *args: bytes | str | int) -> Any:
        """One command, its reply awaited; an error reply or a connection error is raised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(pack(*args), lambda reply: _settle(future, reply))
        reply = await future
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def _drain(self) -> None:
        try:
            while self._pending:
                self._in_flight, self._pending = self._pending, []
                batch = self._in_flight
                replies = await self._send(b"".join(p for p, _ in batch), len(batch))
                self._in_flight = []
                self.batches += 1
                self.commands += len(batch)
                for (_, done), reply in zip(batch, replies, strict=True):
                    done(reply)
        finally:
            self._flushing = None

    async def _send(self, packed: bytes, count: int) -> list[Any]:
        error: BaseException
        try:
            return await self._conn.call(packed, count)
        except RedisConnectionError as exc:
            log.info("%s: connection lost (%s); sending again", self._name, exc)
            try:
                return await self._conn.call(packed, count)
            except (RedisError, OSError) as again:
                error = again
        except (RedisError, OSError) as exc:
            error = exc
        log.warning("%s: %d commands not answered: %r", self._name, count, error)
        return [error] * count

    async def aclose(self) -> None:
        """Let the batch that is out be answered, then fail whatever is left and close."""
        self._closed = True
        task = self._flushing
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left, self._pending, self._in_flight = self._in_flight + self._pending, [], []
        for _, done_ in left:
            done_(RedisConnectionError(f"{self._name} is closed"))
        self._conn.close()


def _settle(future: asyncio.Future[Any], reply: Any) -> None:
    if not future.done():
        future.set_result(reply)
