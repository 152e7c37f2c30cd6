"""`exchange gateway`: the gRPC server, the REST facade, the event persister and the candle
builder in one process (the facade can also run apart, pointed at GRPC_TARGET)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator

import uvicorn

from gateway_svc.candles import CandleBuilder
from gateway_svc.db import Database
from gateway_svc.grpc_server import serve
from gateway_svc.persister import EventPersister
from gateway_svc.rest import create_app
from mesh import logs, streams
from mesh.config import Settings, load_settings
from mesh.signals import stop_event_on_signals

log = logging.getLogger(__name__)

DRAIN_GRACE_S = 10.0


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the gateway's stop event drives shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def instance_id() -> str:
    return f"gw-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def http_config(settings: Settings) -> uvicorn.Config:
    """uvicorn for the facade, with two limits of its own: it believes X-Forwarded-For only
    from TRUSTED_PROXIES (the one list the gRPC server uses too), and its WebSocket layer
    refuses a message over WS_MAX_MESSAGE_BYTES (close 1009) before buffering it."""
    return uvicorn.Config(
        create_app(settings),
        host=os.environ.get("HTTP_HOST", "127.0.0.1"),
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        ws_max_size=settings.ws_max_message_bytes,
    )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    if not settings.redis_url or not settings.database_url:
        raise SystemExit("REDIS_URL and DATABASE_URL are required (`exchange up` embeds both)")
    name = instance_id()
    redis = streams.connect(settings.redis_url)
    db = await Database.connect(settings.database_url)
    grpc_handle = await serve(settings, redis, db, instance_id=name)
    http = _HttpServer(http_config(settings))
    background = [
        asyncio.create_task(http.serve(), name="http"),
        asyncio.create_task(
            EventPersister(redis, db, consumer_name=name).run(stop), name="persister"
        ),
        asyncio.create_task(CandleBuilder(redis, db, consumer_name=name).run(stop), name="candles"),
    ]
    log.info("gateway %s: REST on :%d, gRPC on :%d", name, settings.http_port, grpc_handle.port)
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *background], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopped and task.exception():
            log.error("gateway task %s failed: %s", task.get_name(), task.exception())
    stop.set()
    # Drain: stop taking new HTTP requests, let in-flight gRPC calls finish, then the rest.
    http.should_exit = True
    await grpc_handle.stop(DRAIN_GRACE_S)
    await asyncio.gather(*background, return_exceptions=True)
    await db.close()
    await redis.aclose()


async def _main() -> None:
    await run(load_settings(), stop_event_on_signals())


def main() -> int:
    logs.setup("gateway")
    asyncio.run(_main())
    log.info("gateway stopped cleanly")
    return 0
