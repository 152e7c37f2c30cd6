"""The frameworks' own ceiling: the gateway's stack with nothing of the exchange in it.

Each worker process is what a gateway worker is made of, on one uvloop loop: a grpc.aio
server on a shared TCP port (SO_REUSEPORT) and on a Unix socket of its own, and uvicorn with a
FastAPI app on a shared HTTP port whose `POST /api/v1/engine` makes one real gRPC call over that
socket, as the facade does (and `POST /http-only/api/v1/engine` answers the same without
the gRPC call: what uvicorn and FastAPI cost alone). But `CreateTrade` answers a fixed reply
at once: no authentication, rate limit, Redis, engine or ledger. Driven by the same load as
the exchange (`grpc_load`, `rest_load`), its rate and CPU per call are what grpc.aio, uvicorn
and FastAPI cost on this host alone: the most the exchange's door could reach if everything of
ours cost nothing.

    python -m launcher.bench.ceiling GRPC_PORT HTTP_PORT SOCKET_DIR   (one worker)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import exchange_service_pb2_grpc as xs_grpc
from fastapi import FastAPI, Request, Response

from gateway_svc.grpc_services.registration import add_service
from mesh.embedded import free_port
from mesh.signals import terminate

START_TIMEOUT_S = 30.0
HTTP_ONLY_PREFIX = "/http-only"
# The size of a real answer: a trade opened, with its ids and numbers.
_REPLY = xs.CreateTradeResponse(order_id="0" * 36)
_REPLY.opened.trade.trade_id = "1" * 36
_REPLY.opened.trade.asset = "ETH_USDC"
_ENVELOPE = json.dumps(
    {
        "success": True,
        "orderId": "0" * 36,
        "engineResponse": {"status": "success", "message": "trade opened",
                           "data": {"tradeId": "1" * 36, "asset": "ETH_USDC"}},
    }
).encode()  # fmt: skip


class _FixedReply(xs_grpc.ExchangeServiceServicer):
    async def CreateTrade(
        self, request: xs.CreateTradeRequest, context: grpc.aio.ServicerContext
    ) -> xs.CreateTradeResponse:
        return _REPLY


def _app(grpc_target: str) -> FastAPI:
    app = FastAPI()
    stubs: list[xs_grpc.ExchangeServiceStub] = []

    @app.post("/api/v1/engine")
    async def engine(request: Request) -> Response:
        json.loads(await request.body())
        if not stubs:  # grpc.aio binds a channel to the loop that first uses it
            stubs.append(xs_grpc.ExchangeServiceStub(grpc.aio.insecure_channel(grpc_target)))
        metadata = (("authorization", request.headers.get("authorization", "")),)
        await stubs[0].CreateTrade(xs.CreateTradeRequest(), metadata=metadata, timeout=10)
        return Response(_ENVELOPE, media_type="application/json")

    @app.post(HTTP_ONLY_PREFIX + "/api/v1/engine")
    async def engine_without_grpc(request: Request) -> Response:
        json.loads(await request.body())
        return Response(_ENVELOPE, media_type="application/json")

    return app


async def _worker(grpc_port: int, http_port: int, socket_dir: Path) -> None:
    import uvicorn

    unix_path = socket_dir / f"grpc-{os.getpid()}.sock"
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    add_service(xs_grpc.add_ExchangeServiceServicer_to_server, _FixedReply(), server)  # as served
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    server.add_insecure_port(f"unix:{unix_path}")
    await server.start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", http_port))
    config = uvicorn.Config(
        _app(f"unix:{unix_path}"), log_config=None, access_log=False, http="httptools"
    )
    await uvicorn.Server(config).serve(sockets=[sock])


@dataclass
class Ceiling:
    grpc_target: str
    base_url: str
    workers: list[subprocess.Popen[bytes]]

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self.workers]


@contextmanager
def running(workers: int, work: Path) -> Iterator[Ceiling]:
    """`workers` processes sharing one gRPC and one HTTP port, until the block ends."""
    work.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "launcher.bench.ceiling", str(grpc_port), str(http_port),
               str(work)]  # fmt: skip
    with (work / "ceiling.log").open("ab") as log:
        processes = [
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT) for _ in range(workers)
        ]
    ceiling = Ceiling(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", processes)
    try:
        _wait_ready(ceiling, work)
        yield ceiling
    finally:
        for process in processes:
            terminate(process, 10)


def _wait_ready(ceiling: Ceiling, work: Path) -> None:
    """Every worker's Unix socket is there and the HTTP port answers through a gRPC call."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        dead = [p.returncode for p in ceiling.workers if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a ceiling worker exited ({dead}): see {work / 'ceiling.log'}")
        if len(list(work.glob("grpc-*.sock"))) >= len(ceiling.workers):
            try:
                answer = httpx.post(f"{ceiling.base_url}/api/v1/engine", content=b"{}", timeout=2)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"the ceiling's servers did not start: see {work / 'ceiling.log'}")


def main(argv: list[str]) -> None:
    import uvloop

    grpc_port, http_port, socket_dir = int(argv[0]), int(argv[1]), Path(argv[2])
    uvloop.run(_worker(grpc_port, http_port, socket_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
