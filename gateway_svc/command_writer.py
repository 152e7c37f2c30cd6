"""Batches the XADDs of concurrent commands into one pipelined round trip to Redis.

Under load, many requests reach the engine client within one turn of the event loop. An XADD
each costs a round trip and a pooled connection per command, and most of the gateway's time
went into that. The writer keeps one pipeline in flight: commands that arrive while it is out
go into the next one, so a lone command still leaves at once (no timer, no added latency) and
a busy gateway sends its commands many to a round trip, in the order they were handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

from mesh import streams

log = logging.getLogger(__name__)

Written = Callable[[BaseException | None], None]
"""Told the outcome of one command's XADD: None once Redis has it, else the error."""

STOP_TIMEOUT_S = 2.0


class WriterStopped(ConnectionError):
    """The writer is stopping (or stopped): the command was not sent."""


class CommandWriter:
    def __init__(
        self, redis: aioredis.Redis, stream: str = streams.COMMANDS, *, name: str = "writer"
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._name = name
        self._pending: list[tuple[bytes, Written]] = []
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.commands = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"command writer {self._name}")

    def send(self, payload: bytes, written: Written) -> None:
        """Queue one serialized command; `written` hears how its XADD went."""
        if self._stopping:
            written(WriterStopped("gateway is stopping"))
            return
        self._pending.append((payload, written))
        self._wakeup.set()

    async def stop(self) -> None:
        """Send what is queued, then end; whatever is left after the timeout is failed."""
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left, self._pending = self._pending, []
        for _, written in left:
            written(WriterStopped("gateway is stopping"))

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._flush(batch)
            elif self._stopping:
                return

    async def _flush(self, batch: list[tuple[bytes, Written]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        # The raw command: redis-py's xadd() re-inspects its arguments on every call.
        head = ("XADD", self._stream, "MAXLEN", "~", streams.MAXLEN_COMMANDS, "*", streams.PAYLOAD)
        for payload, _ in batch:
            pipe.execute_command(*head, payload)
        error: BaseException | None = None
        try:
            await pipe.execute()
        except Exception as exc:  # any failure fails the batch: retrying one is the caller's
            log.warning("%s: cannot send %d commands: %r", self._name, len(batch), exc)
            error = exc
        self.batches += 1
        self.commands += len(batch)
        for _, written in batch:
            written(error)
