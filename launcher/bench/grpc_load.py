"""gRPC load with `h2load` (Debian's nghttp2-client): gRPC is HTTP/2, so a tool nobody here
wrote can drive `ExchangeService/CreateTrade` with a prebuilt body over h2c.

h2load counts an HTTP 200 as a success even when the call failed (gRPC puts its status in the
trailers, which h2load does not read), so a real gRPC client calls the same method beside it
and the table reports its non-OK statuses.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
from exchange.v1 import exchange_service_pb2, exchange_service_pb2_grpc, types_pb2

from launcher.bench.stats import percentile

METHOD = "/exchange.v1.ExchangeService/CreateTrade"
WARM_UP = "500ms"  # connections open and the server's first calls before the clock starts
ASSET = "ETH_USDC"


def create_trade_request() -> exchange_service_pb2.CreateTradeRequest:
    """No order_id (each call is a new order), the smallest margin, 1x: it never liquidates."""
    request = exchange_service_pb2.CreateTradeRequest(
        asset=ASSET, direction=types_pb2.DIRECTION_LONG, leverage=10
    )
    request.margin.units, request.margin.scale = 1, 4
    return request


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: not compressed, 4-byte big-endian length."""
    return struct.pack(">BI", 0, len(message)) + message


def write_body(path: Path) -> Path:
    path.write_bytes(grpc_frame(create_trade_request().SerializeToString()))
    return path


def run_h2load(
    target: str,
    token: str,
    body: Path,
    log_file: Path,
    *,
    clients: int,
    streams: int,
    seconds: float,
) -> dict[str, float]:
    """Closed loop with clients x streams calls in flight; latencies from h2load's log file."""
    if shutil.which("h2load") is None:
        raise RuntimeError("h2load is not installed (Debian: apt-get install nghttp2-client)")
    log_file.unlink(missing_ok=True)
    args = [
        "h2load", f"--clients={clients}", f"--max-concurrent-streams={streams}",
        f"--duration={max(1, round(seconds))}", f"--warm-up-time={WARM_UP}", f"--data={body}",
        "--header=content-type: application/grpc", "--header=te: trailers",
        f"--header=authorization: Bearer {token}", f"--log-file={log_file}",
        f"http://{target}{METHOD}",
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
    statuses: Counter[str] = Counter()
    elapsed_us = []
    if log_file.exists():
        for line in log_file.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) >= 3:
                statuses[fields[1]] += 1
                elapsed_us.append(int(fields[2]))
    if not elapsed_us:
        tail = (done.stdout + done.stderr)[-300:]
        raise RuntimeError(f"h2load logged no request (exit {done.returncode}): {tail}")
    elapsed_us.sort()
    answered = len(elapsed_us)
    succeeded = statuses.get("200", 0)
    return {
        "rate": succeeded / max(1, round(seconds)),
        "p50_ms": percentile(elapsed_us, 0.50) / 1000,
        "p99_ms": percentile(elapsed_us, 0.99) / 1000,
        "failed": float(answered - succeeded),
        "answered": float(answered),
    }


class StatusSampler:
    """A real gRPC client calling CreateTrade every `interval_s` in a thread, counting status
    codes, while h2load runs."""

    def __init__(self, target: str, token: str, interval_s: float = 0.05) -> None:
        self.target = target
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.interval_s = interval_s
        self.codes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grpc-sampler", daemon=True)

    def __enter__(self) -> StatusSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            request = create_trade_request()
            while not self._stop.is_set():
                try:
                    stub.CreateTrade(request, metadata=self.metadata, timeout=10)
                    self.codes["OK"] += 1
                except grpc.RpcError as exc:
                    self.codes[exc.code().name] += 1
                time.sleep(self.interval_s)

    @property
    def errors(self) -> int:
        return sum(count for code, count in self.codes.items() if code != "OK")

    def describe(self) -> str:
        total = sum(self.codes.values())
        bad = {code: n for code, n in self.codes.items() if code != "OK"}
        return f"real client: {total} calls, not OK: {bad or 'none'}"
