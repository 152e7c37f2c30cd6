"""WebSocket limits over real sockets: uvicorn serving the facade, a websockets client.

Every test client connects from 127.0.0.1, so the per-address limit and the total are told
apart by their settings: per address 2 of a total 3, or per address 10 of a total 2.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import grpc
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from gateway_svc.bounded_head import BoundedHeadProtocol
from gateway_svc.gateway_process import http_config
from gateway_svc.rest import create_app
from mesh.config import Settings
from tests.rest.conftest import live_ws


@asynccontextmanager
async def socket_server(
    settings: Settings, grpc_port: int, behind_proxy: bool = False, **limits: Any
) -> AsyncIterator[str]:
    limited = dataclasses.replace(settings, **limits)
    app = create_app(limited, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}"))
    async with app.router.lifespan_context(app), live_ws(app, behind_proxy) as url:
        yield url


async def closed_with(socket: ClientConnection) -> tuple[int | None, str | None]:
    """The server's close code and reason, once the socket is closed."""
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), timeout=5)
    return socket.close_code, socket.close_reason


async def still_open(socket: ClientConnection) -> None:
    await socket.send(json.dumps({"type": "ping"}))
    while (reply := json.loads(await asyncio.wait_for(socket.recv(), timeout=5)))["type"] != "pong":
        assert reply["type"] != "error", reply


async def test_connections_per_address_are_capped_with_1008(settings, grpc_port) -> None:
    async with (
        socket_server(
            settings, grpc_port, ws_max_connections_per_ip=2, ws_max_connections=3
        ) as url,
        AsyncExitStack() as stack,
    ):
        first = await stack.enter_async_context(websockets.connect(url))
        second = await stack.enter_async_context(websockets.connect(url))
        third = await stack.enter_async_context(websockets.connect(url))
        code, reason = await closed_with(third)
        assert code == 1008
        assert "too many connections from your address" in (reason or "")
        await still_open(first)
        await still_open(second)

        # A closed socket gives its slot back.
        await second.close()
        await asyncio.sleep(0.1)
        fourth = await stack.enter_async_context(websockets.connect(url))
        await still_open(fourth)


async def test_an_ipv6_client_is_its_64_for_the_per_address_cap(settings, grpc_port) -> None:
    """One IPv6 subscriber holds a whole /64 and can pick any address in it."""
    async with (
        socket_server(
            settings, grpc_port, behind_proxy=True, ws_max_connections_per_ip=2,
            ws_max_connections=10,
        ) as url,
        AsyncExitStack() as stack,
    ):  # fmt: skip

        def from_address(address: str) -> Any:
            return websockets.connect(url, additional_headers={"X-Forwarded-For": address})

        first = await stack.enter_async_context(from_address("2001:db8:1:2::1"))
        second = await stack.enter_async_context(from_address("2001:db8:1:2::2"))
        third = await stack.enter_async_context(from_address("2001:db8:1:2:ffff::3"))
        code, reason = await closed_with(third)
        assert code == 1008, reason
        other = await stack.enter_async_context(from_address("2001:db8:1:3::1"))
        for socket in (first, second, other):
            await still_open(socket)


async def test_total_connections_are_capped_with_1013(settings, grpc_port) -> None:
    async with (
        socket_server(
            settings, grpc_port, ws_max_connections_per_ip=10, ws_max_connections=2
        ) as url,
        websockets.connect(url) as first,
        websockets.connect(url),
    ):
        async with websockets.connect(url) as third:
            code, reason = await closed_with(third)
        assert code == 1013
        assert "try again later" in (reason or "")
        await still_open(first)


async def test_a_message_over_the_size_limit_closes_with_1009(settings, grpc_port) -> None:
    async with socket_server(settings, grpc_port, ws_max_message_bytes=256) as url:
        async with websockets.connect(url) as socket:
            await still_open(socket)  # small messages are fine
            await socket.send(json.dumps({"type": "ping", "pad": "x" * 300}))
            code, reason = await closed_with(socket)
        assert code == 1009
        assert reason == "message too big: at most 256 bytes"

        # Bytes count, not characters: 100 three-byte characters are 300 bytes.
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"type": "ping", "pad": "€" * 100}, ensure_ascii=False))
            assert (await closed_with(socket))[0] == 1009

        # Binary frames too.
        async with websockets.connect(url) as socket:
            await socket.send(b"x" * 257)
            assert (await closed_with(socket))[0] == 1009


async def test_a_message_flood_closes_with_1008(settings, grpc_port) -> None:
    async with socket_server(settings, grpc_port, ws_max_messages_per_s=5) as url:
        async with websockets.connect(url) as socket:
            for _ in range(5):
                await still_open(socket)  # at the limit: all answered
            for _ in range(20):
                await socket.send(json.dumps({"type": "ping"}))
            code, reason = await closed_with(socket)
        assert code == 1008
        assert reason == "too many messages: at most 5 per second"


def test_uvicorn_gets_the_socket_and_proxy_limits(settings: Settings) -> None:
    """In production the facade runs under gateway_svc.gateway_process's uvicorn: its
    WebSocket layer refuses oversize frames before buffering them, and it believes
    X-Forwarded-For only from TRUSTED_PROXIES."""
    proxies = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
    config = http_config(
        dataclasses.replace(settings, ws_max_message_bytes=1234, trusted_proxies=proxies)
    )
    assert config.ws_max_size == 1234
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == ["10.0.0.0/8", "::1/128"]
    assert config.http is BoundedHeadProtocol  # a request's head is bounded (431)
