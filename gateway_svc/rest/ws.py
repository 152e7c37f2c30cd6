"""`GET /api/v1/ws`: live prices for everyone, the caller's trade events once authenticated.

One session = up to two gRPC server streams (StreamPrices, StreamTradeEvents) feeding one
queue, and one task writing the queue to the socket (a socket must not be written from two
tasks at once). When the client goes, every task is cancelled, which cancels the gRPC calls.

Limits (ws_limits.py): WS_MAX_CONNECTIONS_PER_IP and WS_MAX_CONNECTIONS open sockets,
WS_MAX_MESSAGE_BYTES per inbound message, WS_MAX_MESSAGES_PER_S inbound; a socket over one is
closed with a close code and a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import grpc
from exchange.v1 import exchange_service_pb2 as xs
from fastapi import APIRouter, WebSocket

from gateway_svc.errors import ApiError
from gateway_svc.rest import present
from gateway_svc.rest.auth import COOKIE_NAME, auth_metadata, bearer_token, check_token
from gateway_svc.rest.clients import GrpcClients
from gateway_svc.rest.jsonio import RepeatedKey, dumps, parse_json_text
from gateway_svc.rest.ws_limits import (
    ConnectionSlots,
    Refusal,
    message_too_big,
    too_many_messages,
    utf8_size_over,
)
from gateway_svc.stream_headers import SUBSCRIBED
from gateway_svc.token_bucket import TokenBucket
from mesh.client_keys import address_key
from mesh.config import Settings
from mesh.error_text import describe

log = logging.getLogger(__name__)
router = APIRouter()

QUEUE_SIZE = 1024
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)
PRICES_INTERRUPTED: dict[str, Any] = {
    "type": "error",
    "code": "ENGINE_UNAVAILABLE",
    "message": "price stream interrupted, reconnecting",
}
# Queued by the trade pump when its stream ended: the send loop closes the socket there.
EVENTS_INTERRUPTED: dict[str, Any] = {"type": "internal: trade events interrupted"}
# 1013 "Try Again Later" (RFC 6455 registry): the page reconnects and re-reads its trades.
EVENTS_INTERRUPTED_CLOSE = (1013, "trade events interrupted: reconnect and re-read your trades")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cookie_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers send cookies on cross-site WebSocket handshakes too: only trust the cookie
    when the page comes from this facade or from FRONTEND_URL."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser
    origin = origin.lower()
    trusted = {_origin(settings.backend_url), _origin(settings.frontend_url)}
    trusted.update(settings.allowed_origins)  # the pages REST writes accept too (origin.py)
    host = websocket.headers.get("host", "")
    return origin in trusted or urlsplit(origin).netloc == host.lower()


class WsSession:
    def __init__(self, websocket: WebSocket, clients: GrpcClients, settings: Settings) -> None:
        self.websocket = websocket
        self.clients = clients
        self.settings = settings
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.tasks: list[asyncio.Task[None]] = []
        self.trades_task: asyncio.Task[None] | None = None
        # Set once the session the socket opened with is decided ("auth ok" or its error):
        # until then no price is sent, so a page learns from the first message whether it
        # is signed in (web/src/main.ts, sessionFromSocket).
        self.session_decided = asyncio.Event()
        # Up to one second's worth at once, then the steady rate.
        per_s = settings.ws_max_messages_per_s
        self.inbound = TokenBucket(per_s, per_s, time.monotonic())

    def offer(self, message: dict[str, Any]) -> None:
        """Prices are dropped for a client too slow to read them: the next tick supersedes."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(message)

    async def _send_loop(self) -> None:
        while True:
            message = await self.queue.get()
            if message is EVENTS_INTERRUPTED:
                # After what was queued before it: the client has every event it got.
                await self.websocket.close(*EVENTS_INTERRUPTED_CLOSE)
                return
            await self.websocket.send_text(dumps(message))

    async def _pump_prices(self) -> None:
        await self.session_decided.wait()
        attempt = 0
        while True:
            call = self.clients.exchange.StreamPrices(xs.StreamPricesRequest())
            try:
                async for reply in call:
                    attempt = 0
                    self.offer(present.price_event(reply.tick))
            except grpc.aio.AioRpcError as err:
                log.info("price stream ended: %s", err.code().name)
            finally:
                call.cancel()
            # Queued, never dropped like a price: a client behind on its prices still learns
            # that they stopped (the page marks them stale and pauses its ticket).
            await self.queue.put(PRICES_INTERRUPTED)
            await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
            attempt += 1

    async def _pump_trades(self, token: str) -> None:
        """The caller's trade events, none dropped (the pump waits for room in the queue). A
        stream that ends for any reason but the session's may have missed events, which no
        new stream would bring back: the socket is closed after what it holds, and the page
        re-reads its trades when it reconnects. "auth ok" waits for the stream's headers,
        which the server sends once subscribed (SUBSCRIBED): a client that trades after it
        misses no event of its own. Until the session is decided (ok, or refused), no price
        is sent; a stream that fails before either closes the socket with prices still held,
        so a page never takes itself for signed out because a price came first."""
        call = None
        try:
            call = self.clients.exchange.StreamTradeEvents(
                xs.StreamTradeEventsRequest(), metadata=auth_metadata(token)
            )
            if SUBSCRIBED in tuple(await call.initial_metadata() or ()):
                await self.queue.put({"type": "auth", "status": "ok"})
                self.session_decided.set()
            async for reply in call:
                await self.queue.put(present.trade_event(reply.event))
            log.info("trade event stream ended by the server")
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.UNAUTHENTICATED:
                await self.queue.put(
                    {
                        "type": "error",
                        "code": "UNAUTHENTICATED",
                        "message": "session not valid: sign in again",
                    }
                )
                self.session_decided.set()
                return
            log.info("trade event stream ended: %s", err.code().name)
        except Exception as error:  # never a socket left waiting on a pump that died
            log.warning("trade event stream failed: %s", describe(error))
        finally:
            if call is not None:
                call.cancel()
        await self.queue.put(EVENTS_INTERRUPTED)

    def authenticate(self, token: str | None) -> None:
        # The socket's session is the last one asked for: a refused token ends the events of
        # an earlier one too, as the error says ("sign in again").
        if self.trades_task is not None:
            # Dropped from the list too: a client re-authenticating all day must not pile up
            # finished tasks for the life of the socket.
            self.trades_task.cancel()
            self.tasks.remove(self.trades_task)
            self.trades_task = None
        try:
            token = check_token(token, self.settings)
        except ApiError as err:
            self.offer({"type": "error", "code": err.spec.name, "message": err.message})
            self.session_decided.set()
            return
        self.trades_task = asyncio.create_task(self._pump_trades(token))
        self.tasks.append(self.trades_task)

    def handle(self, text: str) -> None:
        try:
            message = parse_json_text(text)
        except RepeatedKey as err:  # said, as a REST body's would be
            self.offer({"type": "error", "code": err.spec.name, "message": err.message})
            return
        except ApiError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "auth" and isinstance(message, dict):
            token = message.get("token")
            self.authenticate(token if isinstance(token, str) else None)
        elif kind == "ping":
            self.offer({"type": "pong"})
        else:
            self.offer(
                {
                    "type": "error",
                    "code": "INVALID_ARGUMENT",
                    "message": 'expected {"type":"auth","token":...} or {"type":"ping"}',
                }
            )

    def check_inbound(self, text: str | None, raw: bytes | None) -> Refusal | None:
        """Size first (a big message is refused whatever the rate), then the rate."""
        limit = self.settings.ws_max_message_bytes
        too_big = utf8_size_over(text, limit) if text is not None else len(raw or b"") > limit
        if too_big:
            return message_too_big(limit)
        if self.inbound.take(time.monotonic()):
            return too_many_messages(self.settings.ws_max_messages_per_s)
        return None

    async def run(self) -> None:
        self.tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._pump_prices()),
        ]
        # A client's `Authorization: Bearer` (no browser can set it on a WebSocket, so no page
        # of another site can either), else the cookie of a page this facade trusts.
        bearer = bearer_token(self.websocket)
        cookie = self.websocket.cookies.get(COOKIE_NAME)
        if bearer is not None:
            self.authenticate(bearer)
        elif cookie and cookie_allowed(self.websocket, self.settings):
            self.authenticate(cookie)
        else:
            self.session_decided.set()
        try:
            while True:
                event = await self.websocket.receive()
                if event["type"] == "websocket.disconnect":
                    return
                text, raw = event.get("text"), event.get("bytes")
                if text is None and raw is None:
                    continue
                refusal = self.check_inbound(text, raw)
                if refusal is not None:
                    await self.websocket.close(refusal.code, refusal.reason)
                    return
                if text is None:
                    text = (raw or b"").decode("utf-8", "replace")
                self.handle(text)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)


@router.websocket("/api/v1/ws")
async def price_socket(websocket: WebSocket) -> None:
    # Accepted before any refusal: only an open socket can carry a close code and reason
    # (closing during the handshake is a bare HTTP 403).
    await websocket.accept()
    slots: ConnectionSlots = websocket.app.state.ws_slots
    # The TCP peer, or the forwarded client when uvicorn trusts the proxy (TRUSTED_PROXIES);
    # an IPv6 client by its /64, as every per-client limit counts it.
    address = address_key(websocket.client.host) if websocket.client else "unknown"
    refusal = slots.claim(address)
    if refusal is not None:
        log.info("websocket from %s refused: %s", address, refusal.reason)
        await websocket.close(refusal.code, refusal.reason)
        return
    try:
        session = WsSession(websocket, websocket.app.state.clients, websocket.app.state.settings)
        await session.run()
    finally:
        slots.release(address)
