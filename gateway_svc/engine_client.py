"""The gateway's line to the engine: commands out on `backend-to-engine`, answers back on
this instance's own stream, `engine_response:<instance>`, matched by (user id, order id): the
engine names the asking user on each answer, so two users' commands with the same order id
each get their own answer, and neither can be handed the other's.

Several gateway instances (and several worker processes of one gateway) share one Redis. Each
stamps its commands with its own `reply_to`, and the engine answers on that instance's stream,
so a reader follows only its own answers with plain XREAD and parses every one of them. The
stream is deleted on a clean stop (its name is unique per start; MAXLEN caps a crashed one).

Commands leave through a `CommandWriter`, which pipelines the XADDs of concurrent requests.
`StreamTail` (the follow-a-stream loop with reconnects) is shared with gateway_svc.prices and
the revocations. Both speak RESP by hand (`mesh.resp`): through redis-py, the three Redis
commands of a call (rate limit, XADD, the answer's XREAD) cost 0.8 ms of the gateway's CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from exchange.v1 import commands_pb2, responses_pb2
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway_svc.command_writer import CommandWriter
from gateway_svc.dependency_health import ENGINE
from gateway_svc.errors import ApiError
from gateway_svc.token_bucket import SharedTokenBuckets
from mesh import streams
from mesh.error_text import describe
from mesh.resp import RespConnection, options_of
from mesh.resp_pipeline import RespPipeline

log = logging.getLogger(__name__)

Fields = dict[bytes, bytes]
EntryHandler = Callable[[bytes, Fields], None]

FIRST_RETRY_S = 0.1
MAX_RETRY_S = 5.0
READ_COUNT = 500
"""Entries one XREAD takes of each stream a tail follows, at most (StreamTail's count)."""
ENGINE_GONE = "the engine is not running (its heartbeat has expired): the command was not sent"


async def last_entry_id(redis: aioredis.Redis, stream: str) -> bytes:
    """The id `$` would mean right now, made explicit so no entry is missed between reads."""
    newest = await redis.xrevrange(stream, count=1)
    return newest[0][0] if newest else b"0-0"


class _Followed:
    """One stream a tail reads: its handler, where to start, and how far it has been read."""

    __slots__ = ("cursor", "handle", "start_at", "stream")

    def __init__(
        self, stream: str, handle: EntryHandler, start_at: Callable[[], Awaitable[bytes]]
    ) -> None:
        self.stream = stream
        self.handle = handle
        self.start_at = start_at
        self.cursor: bytes | None = None


class StreamTail:
    """Follows one stream, or several in one XREAD, from a cursor per stream, handing each
    entry to its stream's `handle` in order.

    `start_at` resolves a stream's first cursor (default: the stream's current end). After a
    Redis error the loop backs off, logs once per outage, and resumes from the last entry
    handled, so a reconnect neither skips nor repeats entries that are still in the stream.
    The XREADs block on a connection of their own, never one that request traffic waits for.
    Streams written together (the engine's answers and its events, in one MULTI/EXEC) are
    best read together (`follow`): one blocking read and one wake-up for both.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        handle: EntryHandler,
        *,
        name: str,
        start_at: Callable[[], Awaitable[bytes]] | None = None,
        block_ms: int = 500,
        count: int = READ_COUNT,
    ) -> None:
        self._redis = redis
        self._reader = RespConnection(options_of(redis))
        self._followed: dict[bytes, _Followed] = {}
        self._name = name
        self._block_ms = block_ms
        self._count = count
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.follow(stream, handle, start_at)

    def follow(
        self,
        stream: str,
        handle: EntryHandler,
        start_at: Callable[[], Awaitable[bytes]] | None = None,
    ) -> None:
        """Read `stream` too, in the same XREAD (before `start`)."""
        if self._task is not None:
            raise RuntimeError(f"{self._name}: follow {stream} before the tail starts")
        redis = self._redis
        self._followed[stream.encode()] = _Followed(
            stream, handle, start_at or (lambda: last_entry_id(redis, stream))
        )

    async def start(self) -> None:
        """Resolve the cursors now if Redis answers (so nothing sent after start() is missed),
        then follow in the background. With Redis down the loop keeps trying."""
        try:
            await self._resolve_cursors()
        except streams.REDIS_ERRORS as exc:
            log.warning("%s: redis unavailable at start (%s); will keep trying", self._name, exc)
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def _resolve_cursors(self) -> None:
        for followed in self._followed.values():
            if followed.cursor is None:
                followed.cursor = await followed.start_at()
        self.ready.set()

    async def stop(self) -> None:
        """Stop following now, not after the XREAD's block: the loop is cancelled where it
        waits (a read, a retry's pause; the entries of a reply are handled with no wait
        between them, so none is left half-handled), then the reader's socket is closed. An
        XREAD takes nothing from its streams, so nothing is lost to a cancelled one."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        self._reader.close()

    def _xread(self) -> list[bytes | str | int]:
        followed = list(self._followed.values())
        return [
            "XREAD", "COUNT", self._count, "BLOCK", self._block_ms, "STREAMS",
            *(f.stream for f in followed), *(f.cursor or b"$" for f in followed),
        ]  # fmt: skip

    async def _run(self) -> None:
        delay = FIRST_RETRY_S
        outage = False
        while not self._stop.is_set():
            try:
                if not self.ready.is_set():
                    await self._resolve_cursors()
                reply = await self._reader.blocking(self._block_ms, *self._xread())
            except (*streams.REDIS_ERRORS, RedisError) as exc:
                # Any error (an error reply too) is an outage to wait out: the tail never dies.
                if not outage:
                    log.warning(
                        "%s: reading %s failed: %s", self._name, self._streams(), describe(exc)
                    )
                outage = True
                log.info("%s: reconnecting to redis in %.1fs", self._name, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            if outage:
                log.info("%s: redis is back; reading %s again", self._name, self._streams())
                outage, delay = False, FIRST_RETRY_S
            for stream, entries in reply or ():
                followed = self._followed[stream]
                for entry_id, fields in _entries(entries):
                    followed.cursor = entry_id
                    try:
                        followed.handle(entry_id, fields)
                    except Exception:
                        log.exception(
                            "%s: skipping entry %s of %s", self._name, entry_id, followed.stream
                        )

    def _streams(self) -> str:
        return ", ".join(f.stream for f in self._followed.values())


def _entries(entries: Any) -> list[tuple[bytes, Fields]]:
    """One stream's part of an XREAD answer, as hiredis parses it: [[id, [field, value, ...]]]."""
    out: list[tuple[bytes, Fields]] = []
    for entry_id, flat in entries:
        pairs = iter(flat or ())
        out.append((entry_id, dict(zip(pairs, pairs, strict=False))))
    return out


WaitKey = tuple[str, str]
"""(user id, order id): what an answer is matched by."""


class _Call:
    """One caller waiting: its answer's future, and how far its command got.

    Told "unavailable" only when the command surely never reaches the engine; once it may
    have (its batch left for Redis), a failure or a passed deadline is ENGINE_TIMEOUT, whose
    meaning is "the outcome is unknown: the same order_id again is safe"."""

    __slots__ = ("future", "given_up", "leaving", "order_id", "sent", "timeout_s")

    def __init__(
        self, future: asyncio.Future[responses_pb2.CommandResult], order_id: str, timeout_s: float
    ) -> None:
        self.future = future
        self.order_id = order_id
        self.timeout_s = timeout_s
        self.leaving = False  # its batch is on its way to Redis: it may run from now on
        self.sent = False  # Redis has it
        self.given_up = False  # told it could not be sent: then it must never be

    def wanted(self) -> bool:
        """Asked by the pipeline as the command's batch leaves: True commits it."""
        if self.given_up:
            return False
        self.leaving = True
        return True

    def written(self, error: BaseException | None) -> None:
        if error is None:
            self.sent = True
        elif isinstance(error, ApiError):  # refused by its rate limit: it never ran
            if not self.future.done():
                self.future.set_exception(error)
        elif not self.future.done():
            # A batch with no reply in time may have been run by Redis: its outcome is unknown.
            unknown = isinstance(error, RedisTimeoutError)
            self.future.set_exception(
                ApiError("ENGINE_TIMEOUT" if unknown else "ENGINE_UNAVAILABLE")
            )

    def expire(self) -> None:
        """The deadline passed (a loop timer: cheaper than a timeout context per call)."""
        if self.future.done():
            return
        if self.sent or self.leaving:
            log.warning(
                "engine client: no answer to %s within %.1fs", self.order_id, self.timeout_s
            )
            self.future.set_exception(ApiError("ENGINE_TIMEOUT"))
        else:
            log.warning("engine client: cannot send %s in time", self.order_id)
            self.given_up = True
            self.future.set_exception(ApiError("ENGINE_UNAVAILABLE"))


class _Waiters:
    """The calls waiting on one user's order id: usually one, several with a retry in flight."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[_Call] = []


class EngineClient:
    def __init__(
        self,
        redis: aioredis.Redis,
        instance_id: str,
        timeout_s: float,
        limit: SharedTokenBuckets | None = None,
    ) -> None:
        """`limit`: the per-user command limit that `call(..., limited=True)` spends, in the
        command's own XADD (one script)."""
        self._redis = redis
        self.instance_id = instance_id
        self.answers = streams.response_stream(instance_id)
        self.timeout_s = timeout_s
        self._waiting: dict[WaitKey, _Waiters] = {}
        self._pipeline = RespPipeline(options_of(redis), name=f"engine client {instance_id}")
        self._writer = CommandWriter(self._pipeline, limit=limit)
        self.tail = StreamTail(
            redis, self.answers, self._on_entry, name=f"engine client {instance_id}"
        )
        """Also read by the trade event hub beside it (`TradeEventHub(tail=...)`): the engine
        writes a batch's answers and events together, and one XREAD takes both."""
        self.engine_gone = False
        """The engine's heartbeat has expired (the dependency health's last round): commands
        are refused at once instead of waiting in its stream to run late, at the prices of
        whenever it comes back, for callers who gave up on them long before."""

    def follow_health(self, gone: frozenset[str]) -> None:
        """DependencyHealth's `on_gone`: each round's verdict on the engine."""
        gone_now = ENGINE in gone
        if gone_now != self.engine_gone:
            if gone_now:
                log.warning("engine client: no engine heartbeat; refusing commands until it beats")
            else:
                log.info("engine client: the engine beats again; sending commands")
        self.engine_gone = gone_now

    async def start(self) -> None:
        await self.tail.start()

    async def stop(self) -> None:
        self._writer.stop()
        await self._pipeline.aclose()
        await self.tail.stop()
        for waiters in self._waiting.values():
            for call in waiters.calls:
                if not call.future.done():
                    call.future.set_exception(ApiError("ENGINE_UNAVAILABLE", "gateway is stopping"))
        self._waiting.clear()
        # Nobody will read this instance's answers again.
        with contextlib.suppress(*streams.REDIS_ERRORS, TimeoutError):
            await asyncio.wait_for(self._redis.delete(self.answers), 1.0)

    async def call(
        self, command: commands_pb2.Command, limited: bool = False
    ) -> responses_pb2.CommandResult:
        """Send one command and wait for its answer. ENGINE_UNAVAILABLE when it surely never
        reached the engine (Redis refused it, or it could not leave in time and never will);
        ENGINE_TIMEOUT when it may have and no answer came in time (it may still run:
        retrying with the same order_id is safe). `limited`: the command spends a token of its
        user's rate limit on the way, and RATE_LIMITED means it was not sent."""
        if self.engine_gone:
            raise ApiError("ENGINE_UNAVAILABLE", ENGINE_GONE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        command.reply_to = self.instance_id
        if not self.tail.ready.is_set():
            # Until the reader knows where the stream ends, an answer could slip past it.
            try:
                await asyncio.wait_for(self.tail.ready.wait(), self.timeout_s)
            except TimeoutError:
                raise ApiError("ENGINE_UNAVAILABLE") from None
        key = (command.user_id, command.order_id)
        call = self._register(key, loop)
        timer = loop.call_at(deadline, call.expire)
        try:
            limited_user = command.user_id if limited else None
            self._writer.send(command.SerializeToString(), call.written, call.wanted, limited_user)
            return await call.future
        finally:
            timer.cancel()
            self._unregister(key, call)

    def _register(self, key: WaitKey, loop: asyncio.AbstractEventLoop) -> _Call:
        # Registered before the XADD: the answer can arrive before the pipeline returns.
        waiters = self._waiting.get(key)
        if waiters is None:
            waiters = self._waiting[key] = _Waiters()
        call = _Call(loop.create_future(), key[1], self.timeout_s)
        waiters.calls.append(call)
        return call

    def _unregister(self, key: WaitKey, call: _Call) -> None:
        waiters = self._waiting.get(key)
        if waiters is None:
            return
        with contextlib.suppress(ValueError):
            waiters.calls.remove(call)
        if not waiters.calls:
            del self._waiting[key]

    def _on_entry(self, entry_id: bytes, fields: Fields) -> None:
        try:
            result = responses_pb2.CommandResult.FromString(fields.get(streams.PAYLOAD, b""))
        except DecodeError:
            log.error("engine client: undecodable answer %s", entry_id)
            return
        asker = fields.get(streams.ASKER, b"").decode("utf-8", "replace")
        waiters = self._waiting.pop((asker, result.order_id), None)
        if waiters is None:
            log.info("engine client: late answer to %s (caller gave up)", result.order_id)
            return
        for call in waiters.calls:
            if not call.future.done():
                call.future.set_result(result)
