"""Plain ASGI middleware: request metrics, and a request body size limit.

Both are raw ASGI (not BaseHTTPMiddleware) so they add no task per request and see every
response, including the 413 the size limit sends itself.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_svc.rest.envelope import STARTED_KEY, error_body
from gateway_svc.rest.jsonio import dumps


class HttpMetrics:
    """Per-app metrics in their own registry, so several apps (tests) can coexist.

    In a gateway with several workers, prometheus_client runs in multiprocess mode
    (PROMETHEUS_MULTIPROC_DIR, set by the parent before the workers import it): every metric
    of every worker lives in that directory, and `render` sums them, so a scrape that lands on
    any one worker sees the whole gateway.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # (route, method, status) labels -> their two children: `.labels()` per request is slow.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = self._children[key] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text of this gateway: all workers' sums in multiprocess mode, else
        the process-wide registry (process, GC) and this app's HTTP metrics."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(REGISTRY) + generate_latest(self.registry)


# Label values must stay a small set: every new value is a new series, kept until restart. A
# client can send any token as the method (`FOO / HTTP/1.1` reaches us), so only the methods
# the API could answer keep their name.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_label(scope: Scope) -> str:
    """The route's template (`/api/v1/trades/{id}`), never the raw path; one label for every
    path no route matched."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope[STARTED_KEY] = started
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The route template, not the raw path: label values must stay a small set.
            self.metrics.observe(
                route_label(scope),
                method_label(scope["method"]),
                status,
                time.perf_counter() - started,
            )


class SecurityHeaders:
    """On every HTTP answer, unless it set its own: `nosniff` (a JSON or static body is never
    taken for a script or a style), and on the API's `no-store` (its answers are the caller's
    balances and trades, for no cache to keep)."""

    NOSNIFF = (b"x-content-type-options", b"nosniff")
    NO_STORE = (b"cache-control", b"no-store")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if self.NOSNIFF[0] not in names:
                    headers.append(self.NOSNIFF)
                if api and self.NO_STORE[0] not in names:
                    headers.append(self.NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class CorsWhenOrigin:
    """Starlette's CORSMiddleware, entered only by requests that carry an Origin header (the
    only ones it changes). It looked the header up on every request, and for a missing key
    that lookup raises and catches a KeyError: a visible share of a trade's CPU."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # ASGI header names are lower-case bytes.
            for key, _ in scope["headers"]:
                if key == b"origin":
                    break
            else:
                await self.app(scope, receive, send)
                return
        await self.cors(scope, receive, send)


class BodyLimitMiddleware:
    """Reads the whole body up front (it is small by definition) and answers 413 past `limit`
    bytes, whether the client declared a Content-Length or streamed chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _too_large(self, scope: Scope, send: Send) -> None:
        message = f"request body too large: at most {self.limit} bytes"
        started = scope.get(STARTED_KEY)
        latency = round((time.perf_counter() - started) * 1000, 3) if started else 0.0
        body = dumps(error_body(message, "INVALID_ARGUMENT", str(uuid.uuid4()), latency)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
