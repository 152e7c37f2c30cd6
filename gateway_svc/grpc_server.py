"""The gateway's gRPC server: ExchangeService and AuthService, plus server reflection and the
standard health service, with the engine client and the market-data readers they need.

`serve()` starts everything and returns a handle; from then on health follows Redis, Postgres
and the engine's heartbeat (see `dependency_health`). `handle.stop(grace)` reports NOT_SERVING,
ends the open streams, lets in-flight calls finish within `grace`, then stops the readers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis
from exchange.v1 import (
    auth_service_pb2,
    auth_service_pb2_grpc,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from gateway_svc.auth import Clock, EmailLinks, Revocations, Sessions, SignInLinkLimits
from gateway_svc.auth.signup_limits import SignupLimits
from gateway_svc.db import Database
from gateway_svc.dependency_health import (
    CHECK_INTERVAL_S,
    ENGINE,
    POSTGRES,
    REDIS,
    DependencyHealth,
    Probe,
    dependency_service,
    engine_probe,
)
from gateway_svc.engine_client import EngineClient
from gateway_svc.grpc_services import AuthServicer, CommandRunner, ExchangeServicer, reflection
from gateway_svc.grpc_services.interceptor import GatewayInterceptor
from gateway_svc.grpc_services.registration import add_service
from gateway_svc.grpc_services.stream_caps import StreamCaps, StreamSlots
from gateway_svc.ledger_caught_up import LedgerCaughtUp
from gateway_svc.mailer import Mailer
from gateway_svc.prices import PriceBook, TradeEventHub, trade_event_queue_size
from gateway_svc.token_bucket import SharedTokenBuckets
from mesh.config import ConfigError, Settings

log = logging.getLogger(__name__)

EXCHANGE_SERVICE = exchange_service_pb2.DESCRIPTOR.services_by_name["ExchangeService"].full_name
AUTH_SERVICE = auth_service_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


def new_instance_id() -> str:
    """Unique per process and start, so two gateways never read each other's answers."""
    return f"gw-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class GrpcServerHandle:
    server: grpc.aio.Server
    """The public server, on GRPC_PORT."""
    port: int
    instance_id: str
    engine: EngineClient
    prices: PriceBook
    events: TradeEventHub
    runner: CommandRunner
    health: health_aio.HealthServicer
    dependencies: DependencyHealth
    revocations: Revocations | None = None
    command_limit: SharedTokenBuckets | None = None
    facade_server: grpc.aio.Server | None = None
    """The same services on the REST facade's Unix socket, without the public bounds."""

    async def stop(self, grace: float | None = 5.0) -> None:
        # The checks first, so nothing can report SERVING once the drain has begun.
        await self.dependencies.stop()
        await self.health.enter_graceful_shutdown()
        # Streams never end by themselves; close them so the drain is not spent waiting.
        self.prices.close()
        self.events.close()
        await asyncio.gather(
            *(server.stop(grace) for server in (self.server, self.facade_server) if server)
        )
        await asyncio.gather(self.engine.stop(), self.prices.stop(), self.events.stop())
        if self.revocations is not None:
            await self.revocations.stop()
        if self.command_limit is not None:
            await self.command_limit.aclose()
        log.info("gRPC server on :%d stopped", self.port)


MAX_UNARY_IN_FLIGHT = 1_000
"""Calls with one answer, beside the streams, that a process holds at once (the closed-loop
bench keeps 64 in flight)."""
MAX_CALLS_PER_CONNECTION = 256
"""HTTP/2 streams a public client may open on one connection; more wait on its side."""
MAX_REQUEST_BYTES = 16 * 1024
"""The largest request message the public server takes (RESOURCE_EXHAUSTED past it). Every
request of the API is a few hundred bytes; grpc's default, 4 MB, let a client that sends all
of a large request but its last byte hold 4 MB per call, unauthenticated and untimed."""


def max_calls(settings: Settings) -> int:
    """All the calls the public server holds at once; past it grpc answers RESOURCE_EXHAUSTED.

    The stream caps count a stream once its request has come; a call whose request never
    comes is held all the same (about 19 KB each), so this bounds them too: the public streams
    (GRPC_MAX_STREAMS) and the rest. The REST facade's calls do not count: they go to a server
    of their own on its Unix socket (bounded by the facade: WS_MAX_CONNECTIONS, HTTP), so
    public clients filling these bounds cannot lock the browsers out."""
    return settings.grpc_max_streams + MAX_UNARY_IN_FLIGHT


async def serve(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    *,
    port: int | None = None,
    host: str | None = None,
    instance_id: str | None = None,
    clock: Clock = time.time,
    mailer: Mailer | None = None,
    health_interval_s: float = CHECK_INTERVAL_S,
    reuse_port: bool = False,
    unix_path: str | None = None,
) -> GrpcServerHandle:
    """Start the gRPC server on `host:port` (default GRPC_PORT; 0 picks a free port, see
    `handle.port`). `clock` is wall time (tokens, audit); the rate limits run on Redis's
    clock, shared by every gateway process. Redis, Postgres and the engine's heartbeat are
    checked every `health_interval_s`. `reuse_port` lets the worker processes of one gateway
    share the port (their parent checks first that no one else holds it); `unix_path` also
    serves on that Unix socket, for the REST facade beside this server."""
    name = instance_id or new_instance_id()
    command_limit = SharedTokenBuckets(
        redis, settings.command_rate_limit, settings.command_rate_burst, "limit:cmd:"
    )
    # The limit is spent in the commands' own XADDs (one script), so the engine client holds it.
    engine = EngineClient(redis, name, settings.engine_timeout_ms / 1000, limit=command_limit)
    prices = PriceBook(redis)
    events = TradeEventHub(
        redis,
        trade_event_queue_size(
            settings.max_open_trades_per_user, settings.max_pending_orders_per_user
        ),
        tail=engine.tail,  # one XREAD for the answers and events the engine writes together
    )
    runner = CommandRunner(engine, clock)
    revocations = Revocations(redis, db, clock)
    sessions = Sessions(settings.auth_jwt_secret, db, revocations, redis, clock)
    links = EmailLinks(settings.email_jwt_secret, db, settings.backend_url, clock)
    link_limits = SignInLinkLimits(
        redis,
        settings.signin_links_per_email,
        settings.signin_links_per_client,
        settings.signin_link_window_s,
    )

    # so_reuseport off unless asked: a second gateway on the same port must fail, not split
    # the traffic (gateway_svc.workers checks the port before its workers share it).
    caps = StreamCaps(
        StreamSlots(settings.grpc_max_streams_per_peer, settings.grpc_max_streams),
        settings.trusted_proxies,
    )
    server = grpc.aio.server(
        interceptors=[GatewayInterceptor(caps)],
        maximum_concurrent_rpcs=max_calls(settings),
        options=[
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            ("grpc.max_concurrent_streams", MAX_CALLS_PER_CONNECTION),
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ],
    )
    facade_server = None
    if unix_path is not None:  # bounded by the facade itself: no stream caps, no call bound
        facade_server = grpc.aio.server(interceptors=[GatewayInterceptor(None)])
    exchange = ExchangeServicer(
        sessions,
        runner,
        db,
        prices,
        events,
        command_limit,
        LedgerCaughtUp(redis),
        candles_max_bars=settings.candles_max_bars,
    )
    auth = AuthServicer(
        sessions,
        links,
        mailer or Mailer(settings),
        db,
        runner,
        link_limits,
        settings.trusted_proxies,
        SignupLimits(
            redis, settings.signups_per_client_per_day, settings.signups_per_mailbox_per_day
        ),
    )
    health = health_aio.HealthServicer()
    health_service = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    for serving in (server, facade_server):
        if serving is not None:
            add_service(
                exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server, exchange, serving
            )
            add_service(auth_service_pb2_grpc.add_AuthServiceServicer_to_server, auth, serving)
            add_service(health_pb2_grpc.add_HealthServicer_to_server, health, serving)
            reflection.enable(serving, (EXCHANGE_SERVICE, AUTH_SERVICE, health_service))
    host = settings.grpc_host if host is None else host  # GRPC_HOST: loopback by default
    # An IPv6 literal takes brackets before the port (`[::1]:50051`).
    bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    address = f"{bind_host}:{settings.grpc_port if port is None else port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc's way of saying the bind failed (it says no more)
        raise ConfigError(
            f"GRPC_PORT / GRPC_HOST: cannot listen for gRPC on {address}: {exc}"
        ) from None
    if not bound:
        raise ConfigError(f"GRPC_PORT / GRPC_HOST: cannot listen for gRPC on {address}")
    if facade_server is not None and not facade_server.add_insecure_port(f"unix:{unix_path}"):
        raise OSError(f"cannot listen for gRPC on unix:{unix_path}")

    await revocations.start()
    await engine.start()
    await prices.start()
    await events.start()
    await server.start()
    if facade_server is not None:
        await facade_server.start()
    services = ("", EXCHANGE_SERVICE, AUTH_SERVICE)
    probes: dict[str, Probe] = {
        REDIS: redis.ping,
        POSTGRES: db.check,
        ENGINE: engine_probe(redis, settings.engine_heartbeat_timeout_ms),
    }
    for service in (*services, *map(dependency_service, probes)):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    dependencies = DependencyHealth(
        health, services, probes, interval_s=health_interval_s, on_gone=engine.follow_health
    )
    dependencies.start()
    log.info("gRPC server %s listening on %s:%d", name, host, bound)
    return GrpcServerHandle(
        server, bound, name, engine, prices, events, runner, health, dependencies, revocations,
        command_limit, facade_server,
    )  # fmt: skip
