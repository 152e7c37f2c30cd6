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
an engine command is (the engine answers an order id once, within the user's answer memory,
ENGINE_IDEMPOTENCY_PER_USER) and a rate-limit take is (one token more). A batch with no reply
within `reply_timeout_s` is failed and not sent again (Redis may have run it), so a stuck
socket holds callers for seconds, not for as long as TCP takes to give up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mesh.resp import RespConnection, pack

log = logging.getLogger(__name__)

Done = Callable[[Any], None]
"""Told one command's reply: a value, a ResponseError value, or the batch's connection error."""
Wanted = Callable[[], bool]
"""Whether a queued command's caller still waits for it: one that gave up is not sent."""

CLOSE_TIMEOUT_S = 2.0
REPLY_TIMEOUT_S = 5.0


class RespPipeline:
    def __init__(
        self,
        address: str | dict[str, Any],
        *,
        name: str,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        self._conn = RespConnection(address)
        self._name = name
        self._reply_timeout_s = reply_timeout_s
        self._pending: list[tuple[bytes, Done, Wanted | None]] = []
        self._in_flight: list[tuple[bytes, Done, Wanted | None]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.commands = 0

    def submit(self, packed: bytes, done: Done, wanted: Wanted | None = None) -> None:
        """Queue one packed command (`mesh.resp.pack`); `done` hears its reply. With `wanted`,
        a command whose caller has gone by the time its batch leaves is dropped: not sent, and
        `done` is not told."""
        if self._closed:
            _tell(done, RedisConnectionError(f"{self._name} is closed"))
            return
        self._pending.append((packed, done, wanted))
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._drain())

    async def call(self, *args: bytes | str | int) -> Any:
        """One command, its reply awaited; an error reply or a connection error is raised.
        A caller cancelled before its batch leaves sends nothing."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.submit(pack(*args), lambda reply: _settle(future, reply), lambda: not future.done())
        reply = await future
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = [e for e in self._pending if e[2] is None or e[2]()]
                self._pending = []
                if not batch:
                    continue
                self._in_flight = batch
                try:
                    replies = await self._send(b"".join(e[0] for e in batch), len(batch))
                except Exception as exc:  # whatever it was, every caller hears of it
                    log.exception("%s: a batch of %d failed", self._name, len(batch))
                    replies = _each(exc, len(batch))
                self._in_flight = []
                self.batches += 1
                self.commands += len(batch)
                for (_, done, _wanted), reply in zip(batch, replies, strict=True):
                    _tell(done, reply)
        finally:
            self._flushing = None

    async def _send(self, packed: bytes, count: int) -> list[Any]:
        error: BaseException
        try:
            return await self._exchange(packed, count)
        except TimeoutError:
            # Redis may have run the batch: not sent again, and the connection is dropped.
            error = RedisTimeoutError(f"no reply within {self._reply_timeout_s:g}s")
        except RedisConnectionError as exc:
            log.info("%s: connection lost (%s); sending again", self._name, exc)
            try:
                return await self._exchange(packed, count)
            except TimeoutError:
                error = RedisTimeoutError(f"no reply within {self._reply_timeout_s:g}s")
            except (RedisError, OSError) as again:
                error = again
        except (RedisError, OSError) as exc:
            error = exc
        log.warning("%s: %d commands not answered: %r", self._name, count, error)
        return _each(error, count)

    async def _exchange(self, packed: bytes, count: int) -> list[Any]:
        async with asyncio.timeout(self._reply_timeout_s):  # cancelling the read closes the socket
            return await self._conn.call(packed, count)

    async def aclose(self) -> None:
        """Let the batch that is out be answered, then fail whatever is left and close."""
        self._closed = True
        try:
            task = self._flushing
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
                if not done:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            left, self._pending, self._in_flight = self._in_flight + self._pending, [], []
            for _, done_, _wanted in left:
                _tell(done_, RedisConnectionError(f"{self._name} is closed"))
        finally:
            self._conn.close()


def _settle(future: asyncio.Future[Any], reply: Any) -> None:
    if not future.done():
        future.set_result(reply)


def _tell(done: Done, reply: Any) -> None:
    try:
        done(reply)
    except Exception:  # one caller's callback must not cost the others their replies
        log.exception("a Redis reply's callback failed")


def _each(error: BaseException, count: int) -> list[BaseException]:
    """One error object per caller: each raises its own, with its own traceback."""
    try:
        return [type(error)(*error.args) for _ in range(count)]
    except Exception:
        return [error] * count
