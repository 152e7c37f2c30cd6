"""One full gateway process: the gRPC server and, beside it, the REST facade.

It has its own instance id, engine client, answer stream and gRPC server; its facade calls
that server over a Unix socket in a private temp dir, so the hop stays a real gRPC call but
skips TCP. gateway_svc.main runs it as the only gateway process or as one of several workers
sharing the HTTP and gRPC ports through SO_REUSEPORT (`reuse_port`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import uvicorn

from gateway_svc.bounded_head import BoundedHeadProtocol
from gateway_svc.db import Database
from gateway_svc.grpc_server import new_instance_id, serve
from gateway_svc.rest import create_app
from gateway_svc.workers import http_host
from mesh import streams
from mesh.config import ConfigError, Settings, load_settings, required
from mesh.ports import cannot_listen
from mesh.signals import stop_event_on_signals

log = logging.getLogger(__name__)

DRAIN_GRACE_S = 10.0
HTTP_BACKLOG = 2048
# Young-generation GC threshold once serving (CPython's default is 700): each request makes a
# few hundred short-lived objects, and a collection per couple of requests showed in profiles.
GC_GEN0_THRESHOLD = 20_000


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the gateway's stop event drives shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_config(settings: Settings) -> uvicorn.Config:
    """uvicorn for the facade, with three limits of its own: it believes X-Forwarded-For only
    from TRUSTED_PROXIES (the one list the gRPC server uses too), its WebSocket layer refuses
    a message over WS_MAX_MESSAGE_BYTES (close 1009) before buffering it, and a request's
    head over bounded_head.MAX_HEAD_BYTES gets 431."""
    return uvicorn.Config(
        create_app(settings),
        host=http_host(),
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        ws_max_size=settings.ws_max_message_bytes,
        backlog=HTTP_BACKLOG,
        http=BoundedHeadProtocol,
    )


def http_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """The listening socket uvicorn serves on; SO_REUSEPORT when workers share the port (the
    kernel then spreads new connections over them). A ConfigError naming HTTP_HOST or
    HTTP_PORT when it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise cannot_listen("HTTP", host, port, exc) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(HTTP_BACKLOG)
    except OSError as exc:
        sock.close()
        raise cannot_listen("HTTP", host, port, exc) from None
    sock.setblocking(False)
    return sock


async def run(settings: Settings, stop: asyncio.Event, *, reuse_port: bool = False) -> None:
    """One full gateway until `stop`, then a drain: no new HTTP requests, in-flight gRPC calls
    finish within the grace, then the readers and connections close."""
    redis_url, database_url = required(
        "gateway", REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url
    )
    name = new_instance_id()
    private = tempfile.mkdtemp(prefix="exchange-gw-")
    unix_path = os.path.join(private, "grpc.sock")
    redis = streams.connect(redis_url)
    db = await Database.connect(database_url)
    try:
        grpc_handle = await serve(
            settings, redis, db, instance_id=name, reuse_port=reuse_port, unix_path=unix_path
        )
        # Listening for HTTP only now: with shared ports, the kernel hands a listening worker
        # its share of new connections, and this one can serve them from the first.
        try:
            sock = http_socket(http_host(), settings.http_port, reuse_port=reuse_port)
        except ConfigError:
            await grpc_handle.stop(0)
            raise
        facade = dataclasses.replace(settings, grpc_target=f"unix:{unix_path}")
        http = _HttpServer(http_config(facade))
        serving = asyncio.create_task(http.serve(sockets=[sock]), name="http")
        log.info("gateway %s: REST on :%d, gRPC on :%d", name, settings.http_port, grpc_handle.port)
        _settle_gc()
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, serving], return_when=asyncio.FIRST_COMPLETED)
        if serving in done and serving.exception():
            log.error("gateway HTTP server failed: %s", serving.exception())
        stop.set()
        http.should_exit = True
        await grpc_handle.stop(DRAIN_GRACE_S)
        await asyncio.gather(serving, return_exceptions=True)
        stopped.cancel()
    finally:
        await db.close()
        await redis.aclose()
        shutil.rmtree(private, ignore_errors=True)


def _settle_gc() -> None:
    """Everything built at start-up lives as long as the process: move it out of the
    collector's sight (gc.freeze), so collections only walk what requests allocate."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


async def serve_one(reuse_port: bool) -> None:
    """`run` with the environment's settings, until SIGTERM or SIGINT."""
    await run(load_settings(), stop_event_on_signals(), reuse_port=reuse_port)
