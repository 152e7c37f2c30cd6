"""gRPC on loopback by default, and caps on open server streams per client and in total
(gateway_svc/grpc_services/stream_caps.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import exchange_service_pb2_grpc, prices_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway_svc import grpc_server
from gateway_svc.db import Database
from gateway_svc.grpc_server import serve
from gateway_svc.grpc_services import reflection
from gateway_svc.grpc_services.interceptor import GatewayInterceptor
from gateway_svc.grpc_services.stream_caps import StreamCaps, StreamSlots, stream_key
from mesh.config import Settings
from tests.gateway_grpc.conftest import CapturingMailer, trailers

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


class TickingPrices(exchange_service_pb2_grpc.ExchangeServiceServicer):
    """A StreamPrices that sends one tick and stays open."""

    async def StreamPrices(self, request: xs.StreamPricesRequest, context: object):  # type: ignore[no-untyped-def]
        yield xs.StreamPricesResponse(tick=prices_pb2.PriceTick(asset="SOL_USDC"))
        await asyncio.sleep(3600)


@dataclasses.dataclass
class Capped:
    slots: StreamSlots
    stub: exchange_service_pb2_grpc.ExchangeServiceStub
    health: health_pb2_grpc.HealthStub
    channel: grpc.aio.Channel


async def capped_server(per_peer: int, total: int, trusted: tuple = ()) -> AsyncIterator[Capped]:
    """The capped server on loopback."""
    slots = StreamSlots(per_peer, total)
    server = grpc.aio.server(interceptors=[GatewayInterceptor(StreamCaps(slots, trusted))])
    exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(TickingPrices(), server)
    health = HealthServicer()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable(server, [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Capped(
            slots,
            exchange_service_pb2_grpc.ExchangeServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
            channel,
        )
    await server.stop(None)


async def opened(stub: exchange_service_pb2_grpc.ExchangeServiceStub) -> grpc.aio.Call:
    call = stub.StreamPrices(xs.StreamPricesRequest())
    await call.read()  # the first tick: the stream is open and holds its slot
    return call


async def refused(call: grpc.aio.Call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    return raised.value


async def settled(slots: StreamSlots, count: int) -> None:
    for _ in range(200):
        if slots.count == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{slots.count} streams open, expected {count}")


@pytest.fixture
async def per_peer_two() -> AsyncIterator[Capped]:
    async for capped in capped_server(per_peer=2, total=100):
        yield capped


@pytest.fixture
async def total_two_trusted() -> AsyncIterator[Capped]:
    async for capped in capped_server(per_peer=1, total=2, trusted=LOOPBACK):
        yield capped


async def test_streams_past_the_per_peer_cap_are_resource_exhausted(per_peer_two: Capped) -> None:
    first, second = await opened(per_peer_two.stub), await opened(per_peer_two.stub)
    error = await refused(per_peer_two.stub.StreamPrices(xs.StreamPricesRequest()))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "too many open streams from your address (at most 2)" in (error.details() or "")
    assert trailers(error)["x-error-code"] == "RATE_LIMITED"
    assert per_peer_two.slots.open_for("127.0.0.1") == 2
    # A closed stream gives its slot back.
    first.cancel()
    await settled(per_peer_two.slots, 1)
    third = await opened(per_peer_two.stub)
    second.cancel()
    third.cancel()
    await settled(per_peer_two.slots, 0)
    assert per_peer_two.slots.open_for("127.0.0.1") == 0


async def test_health_watch_counts_too(per_peer_two: Capped) -> None:
    watch = per_peer_two.health.Watch(health_pb2.HealthCheckRequest(service=""))
    await watch.read()
    await opened(per_peer_two.stub)
    error = await refused(per_peer_two.stub.StreamPrices(xs.StreamPricesRequest()))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    watch.cancel()
    await settled(per_peer_two.slots, 1)


async def test_the_total_cap_holds_for_trusted_proxies(total_two_trusted: Capped) -> None:
    # A trusted proxy (the facade) is not capped per peer, only in total.
    await opened(total_two_trusted.stub)
    await opened(total_two_trusted.stub)
    error = await refused(total_two_trusted.stub.StreamPrices(xs.StreamPricesRequest()))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "limit: try again later" in (error.details() or "")
    assert trailers(error)["retry-after"] == "1"


async def test_reflection_streams_count_too(per_peer_two: Capped) -> None:
    """Reflection is a stream of requests and of answers: without a slot, one client could
    hold any number open."""
    stub = reflection_pb2_grpc.ServerReflectionStub(per_peer_two.channel)
    held = []
    for _ in range(2):
        call = stub.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        assert (await call.read()).list_services_response.service
        held.append(call)
    assert per_peer_two.slots.open_for("127.0.0.1") == 2
    error = await refused(per_peer_two.stub.StreamPrices(xs.StreamPricesRequest()))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for call in held:
        call.cancel()
    await settled(per_peer_two.slots, 0)


def test_stream_keys() -> None:
    trusted = (ipaddress.ip_network("10.0.0.1/32"),)
    # An IPv6 client is its /64: any address in it is the same client.
    assert stream_key((), "ipv6:[2001:db8:1:2::5]:4000", trusted) == "2001:db8:1:2::/64"
    assert stream_key((), "ipv6:%5B2001:db8:1:2:ffff::9%5D:1", trusted) == "2001:db8:1:2::/64"
    assert stream_key((), "ipv4:192.0.2.7:4000", trusted) == "192.0.2.7"
    # A direct client cannot choose its key by forwarding one.
    forwarded = (("x-forwarded-for", "198.51.100.1"),)
    assert stream_key(forwarded, "ipv4:192.0.2.7:4000", trusted) == "192.0.2.7"
    # A trusted proxy is believed; speaking for itself, it counts in the total only.
    assert stream_key(forwarded, "ipv4:10.0.0.1:4000", trusted) == "198.51.100.1"
    assert stream_key((), "ipv4:10.0.0.1:4000", trusted) is None
    assert stream_key((), "unix:/run/gw.sock", trusted) is None
    # A Unix-socket peer is believed like a trusted proxy (client_address).
    assert stream_key(forwarded, "unix:", trusted) == "198.51.100.1"


def test_slots_count_and_forget() -> None:
    slots = StreamSlots(per_peer=1, total=2)
    assert slots.claim("a") is None
    assert slots.claim("a") is not None
    assert slots.claim(None) is None
    assert slots.claim("b") is not None  # the total is full
    slots.release("a")
    slots.release(None)
    assert (slots.count, slots.open_for("a")) == (0, 0)
    slots.release("never")  # a stray release cannot go below zero
    assert slots.count == 0


# ---- wired into the real server ---------------------------------------------------------


def _listening_hosts(port: int) -> set[str]:
    """Local addresses of the LISTEN sockets on `port`, from /proc/net/tcp{,6}."""
    hosts = set()
    for name in ("tcp", "tcp6"):
        table = Path(f"/proc/net/{name}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                hosts.add(address)
    return hosts


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net")
async def test_the_server_listens_on_loopback_by_default_and_caps_streams(
    settings: Settings, redis: aioredis.Redis, db: Database, mailer: CapturingMailer
) -> None:
    assert settings.grpc_host == "127.0.0.1"
    settings = dataclasses.replace(settings, grpc_max_streams_per_peer=1, trusted_proxies=())
    handle = await serve(settings, redis, db, port=0, mailer=mailer, instance_id="gw-caps")
    try:
        # 127.0.0.1 in /proc's little-endian hex, on an IPv4 socket or as ::ffff:127.0.0.1 on
        # an IPv6 one; never 0.0.0.0 or [::] (all zeros).
        hosts = _listening_hosts(handle.port)
        assert hosts and hosts <= {"0100007F", "0000000000000000FFFF00000100007F"}, hosts
        async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            first = stub.StreamPrices(xs.StreamPricesRequest())
            await asyncio.sleep(0.2)  # no price yet: the stream is open and waiting
            error = await refused(stub.StreamPrices(xs.StreamPricesRequest()))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            first.cancel()
    finally:
        await handle.stop(1.0)


async def test_calls_whose_request_never_comes_are_bounded_but_not_for_the_facade(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    mailer: CapturingMailer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The stream caps count a stream once its request has come; a call that never sends one
    is held anyway, so the public server bounds every call it holds (grpc_server.max_calls)
    and the calls per connection. The REST facade's calls go to a server of their own on its
    Unix socket: public clients filling those bounds must not lock every browser out."""
    monkeypatch.setattr(grpc_server, "MAX_UNARY_IN_FLIGHT", 2)
    monkeypatch.setattr(grpc_server, "MAX_CALLS_PER_CONNECTION", 3)
    settings = dataclasses.replace(settings, grpc_max_streams=2)
    assert grpc_server.max_calls(settings) == 4
    unix_path = str(tmp_path / "grpc.sock")
    handle = await serve(
        settings, redis, db, port=0, mailer=mailer, instance_id="gw-held", unix_path=unix_path
    )
    never = asyncio.Event()

    async def no_request() -> AsyncIterator[bytes]:
        await never.wait()
        yield b""

    def holder(channel: grpc.aio.Channel) -> Any:
        return channel.stream_stream("/exchange.v1.ExchangeService/StreamPrices")

    try:
        # Two connections: channels to one target share one unless each keeps its own pool.
        own_connection = [("grpc.use_local_subchannel_pool", 1)]
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}", options=own_connection)
            for _ in range(2)
        ]
        held = [holder(channel)(no_request()) for channel in channels for _ in range(2)]
        for call in held:
            await call.wait_for_connection()
        await asyncio.sleep(0.2)
        error = await refused(holder(channels[0])(no_request()))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        async with grpc.aio.insecure_channel(f"unix:{unix_path}") as facade:
            # More than a public connection may hold, while the public bound is full.
            streams = [holder(facade)(no_request()) for _ in range(5)]
            for call in streams:
                await call.wait_for_connection()
            # And more open streams than GRPC_MAX_STREAMS: the facade's take no slot.
            health = health_pb2_grpc.HealthStub(facade)
            watches = [health.Watch(health_pb2.HealthCheckRequest(service="")) for _ in range(3)]
            for watch in watches:
                await watch.read()
            for watch in watches:
                watch.cancel()
            exchange = exchange_service_pb2_grpc.ExchangeServiceStub(facade)
            reply = await exchange.ListSupportedAssets(xs.ListSupportedAssetsRequest(), timeout=5)
            assert reply.assets
            for call in streams:
                call.cancel()
        for call in held:
            call.cancel()
        for channel in channels:
            await channel.close()
    finally:
        never.set()
        await handle.stop(1.0)
