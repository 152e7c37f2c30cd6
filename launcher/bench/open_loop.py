"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, whatever the
server does, and each latency counts from the request's SCHEDULED send time.

A closed-loop tool (wrk, h2load) waits for an answer before it sends the next request, so a
server that stalls for a second is simply sent less during that second, and the stall shows
in a handful of samples instead of in every request that should have been sent meanwhile
(coordinated omission). Here a request due while every connection is busy waits in a backlog
or on a new connection, and that wait is part of its latency.

Cheap enough to send thousands of requests a second from one Python process: asyncio
protocols on keep-alive connections, requests prebuilt as bytes by the workload, responses
parsed only as far as the status line, Content-Length and the body.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from launcher.bench.stats import percentile

READ_TIMEOUT_S = 10.0


class Workload(Protocol):
    def next_request(self) -> tuple[bytes, Any]:
        """The next request's bytes and a context handed back with its answer."""

    def on_answer(self, context: Any, status: int, body: bytes) -> bool:
        """Whether the answer is a success."""


@dataclass
class OpenLoopResult:
    rate: int
    seconds: float
    scheduled: int
    answered: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies_ms: list[float] = field(default_factory=list)
    send_span_s: float = 0.0
    """From the first request's scheduled time to the last one's actual send."""

    @property
    def sent_rate(self) -> float:
        return self.scheduled / self.send_span_s if self.send_span_s > 0 else 0.0

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        return {
            "p50_ms": percentile(ordered, 0.50),
            "p99_ms": percentile(ordered, 0.99),
            "max_ms": ordered[-1] if ordered else float("nan"),
            "errors": float(sum(self.errors.values())),
            "sent_per_s": self.sent_rate,
        }


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self, on_done: Callable[[_Connection, int, bytes, str], None]) -> None:
        self.on_done = on_done
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy: tuple[float, Any] | None = None  # (scheduled time, workload context)
        self.sent_at = 0.0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def send(self, request: bytes, scheduled: float, context: Any, now: float) -> None:
        assert self.transport is not None
        self.busy = (scheduled, context)
        self.sent_at = now
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else None])
        elif b"transfer-encoding: chunked" in head:
            self._fail("chunked answer (not supported)")
            return
        if len(self.buffer) < head_end + 4 + length:
            return
        body = bytes(self.buffer[head_end + 4 : head_end + 4 + length])
        del self.buffer[: head_end + 4 + length]
        status = int(head[9:12]) if head.startswith(b"http/1.") else 0
        if b"\r\nconnection: close" in head:
            self._close()  # before the answer is handed on: this connection takes no more
        self.on_done(self, status, body, "")

    def _fail(self, why: str) -> None:
        self._close()
        if self.busy is not None:
            self.on_done(self, 0, b"", why)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy is not None:
            self.on_done(self, 0, b"", "connection lost")


class OpenLoop:
    def __init__(
        self, host: str, port: int, workload: Workload, *, max_connections: int = 512
    ) -> None:
        self.host, self.port = host, port
        self.workload = workload
        self.max_connections = max_connections
        self.idle: list[_Connection] = []
        self.connections: set[_Connection] = set()
        self.connecting = 0
        self.backlog: collections.deque[tuple[float, bytes, Any]] = collections.deque()
        self.opening: set[asyncio.Task[None]] = set()
        self.result = OpenLoopResult(0, 0.0, 0)

    async def _open(self, *, counted: bool = False) -> _Connection:
        if not counted:
            self.connecting += 1
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self._on_done), self.host, self.port
            )
        finally:
            self.connecting -= 1
        self.connections.add(connection)
        return connection

    async def _open_for_backlog(self) -> None:
        try:
            connection = await self._open(counted=True)
        except OSError as exc:
            if self.backlog:
                scheduled, _, context = self.backlog.popleft()
                self._record(scheduled, context, 0, b"", f"connect: {exc.strerror or exc}")
            return
        self._release(connection)

    def _on_done(self, connection: _Connection, status: int, body: bytes, error: str) -> None:
        if connection.busy is None:
            return
        scheduled, context = connection.busy
        connection.busy = None
        self._record(scheduled, context, status, body, error)
        if not connection.closed:
            self._release(connection)
            return
        self.connections.discard(connection)
        if self.backlog:
            self._open_more()

    def _record(self, scheduled: float, context: Any, status: int, body: bytes, error: str) -> None:
        result = self.result
        result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
        if error:
            result.errors[error] += 1
        elif not self.workload.on_answer(context, status, body):
            result.errors[f"HTTP {status}"] += 1
        else:
            result.answered += 1

    def _release(self, connection: _Connection) -> None:
        if self.backlog:
            scheduled, request, context = self.backlog.popleft()
            connection.send(request, scheduled, context, time.perf_counter())
        else:
            self.idle.append(connection)

    def _dispatch(self, scheduled: float) -> None:
        request, context = self.workload.next_request()
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                connection.send(request, scheduled, context, time.perf_counter())
                return
            self.connections.discard(connection)
        self.backlog.append((scheduled, request, context))
        self._open_more()

    def _open_more(self) -> None:
        """Another connection while requests wait, as a crowd of clients would bring."""
        if len(self.connections) + self.connecting < self.max_connections:
            self.connecting += 1  # now, not when the task starts: the cap must hold
            task = asyncio.ensure_future(self._open_for_backlog())
            self.opening.add(task)
            task.add_done_callback(self.opening.discard)

    def _expire(self, now: float) -> None:
        """A request unanswered for READ_TIMEOUT_S is an error; its connection is dropped."""
        for connection in list(self.connections):
            if connection.busy is not None and now - connection.sent_at > READ_TIMEOUT_S:
                connection._fail("timeout")
                self.connections.discard(connection)

    async def run(self, rate: int, seconds: float, *, warm: int = 32) -> OpenLoopResult:
        total = max(1, int(rate * seconds))
        self.result = OpenLoopResult(rate, seconds, total)
        opened = await asyncio.gather(*(self._open() for _ in range(warm)), return_exceptions=True)
        for connection in opened:
            if isinstance(connection, _Connection):
                self.idle.append(connection)
        interval = 1.0 / rate
        start = time.perf_counter() + 0.01
        sent = 0
        next_expiry = start + 0.5
        while sent < total:
            now = time.perf_counter()
            due = min(total, int((now - start) / interval) + 1)
            while sent < due:
                self._dispatch(start + sent * interval)
                sent += 1
            if now >= next_expiry:
                self._expire(now)
                next_expiry = now + 0.5
            await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
        self.result.send_span_s = time.perf_counter() - start
        await self._drain(start + total * interval + READ_TIMEOUT_S + 1)
        for connection in list(self.connections):
            connection._close()
        self.connections.clear()
        self.idle.clear()
        return self.result

    async def _drain(self, until: float) -> None:
        while time.perf_counter() < until:
            waiting = len(self.backlog) + sum(1 for c in self.connections if c.busy is not None)
            if not waiting:
                return
            self._expire(time.perf_counter())
            await asyncio.sleep(0.01)
        # Out of time: whatever is still waiting or unanswered timed out. The backlog first,
        # so a failed connection does not open another for it.
        for scheduled, _, context in self.backlog:
            self._record(scheduled, context, 0, b"", "timeout")
        self.backlog.clear()
        for connection in list(self.connections):
            if connection.busy is not None:
                connection._fail("timeout")
