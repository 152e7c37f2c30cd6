"""The engine through its streams, as a gateway meets it: commands XADDed onto
`backend-to-engine`, answers read from the client's own `engine_response:<instance>`.

    python -m engine_svc.bench.stream_bench [--redis-url URL] [--seconds 5] [--in-flight 64]

`measure` drives an engine that is already running. The client pipelines: every round trip
sends as many new commands as answers came back (in one MULTI/EXEC, so that the engine's
blocked read wakes once for all of them rather than for the first alone), plus one blocking
XREAD of its own stream, so `in_flight` commands are always outstanding. Each user alternates
CREATE_TRADE and CLOSE_TRADE (a close names the trade its create opened), one command in
flight per user.
`__main__` starts a real engine process (`python -m launcher.cli engine`, journal fsync on)
against the given Redis or an embedded one, with a temporary SNAPSHOT_DIR, and prints the
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvloop
from exchange.v1 import commands_pb2, prices_pb2, responses_pb2, types_pb2

from mesh import streams
from mesh.resp import RespConnection, bulk, pack

REPO_ROOT = Path(__file__).resolve().parents[2]
SOL_BID, SOL_ASK, SOL_SCALE = 235_900_000, 235_950_000, 6
MARGIN_UNITS = 100_000  # 10 USD at scale 4: thousands of round trips fit in 5,000 USD
_COMMAND_XADD = pack("XADD", streams.COMMANDS, "MAXLEN", "~", streams.MAXLEN_COMMANDS, "*", "p")
_COMMAND_XADD = b"*8" + _COMMAND_XADD[2:]  # the payload follows as the eighth argument


def _field(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (values under 128 bytes, as here)."""
    assert len(value) < 0x80
    return b"%c%c%b" % ((number << 3) | 2, len(value), value)


def _body(**fields: Any) -> bytes:
    return commands_pb2.Command(**fields).SerializeToString()


_CREATE_ACCOUNT = _body(create_account=commands_pb2.CreateAccount())
_CREATE_TRADE = _body(
    create_trade=commands_pb2.CreateTrade(
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=types_pb2.Decimal(units=MARGIN_UNITS, scale=4),
        leverage=10,
    )
)


_MULTI, _EXEC = pack("MULTI"), pack("EXEC")


class _Client:
    """One pipelining client: users, their open trades, and the commands in flight."""

    def __init__(self, redis_url: str, users: list[str]) -> None:
        self.conn = RespConnection(redis_url)
        self.name = f"bench-{uuid.uuid4().hex[:12]}"
        self.stream = streams.response_stream(self.name)
        self.cursor = b"0"
        self.idle: deque[str] = deque(users)
        self.open_trade: dict[str, str] = {}
        self.in_flight: dict[str, tuple[str, int]] = {}
        """order id -> (user, when sent, perf_counter_ns)."""
        self.latencies_ns: list[int] = []
        self.answered = 0
        self.answered_in_all = 0
        self.rejected = 0
        self._sent = 0
        # A serialized message is the concatenation of its fields, so each command is its
        # order id, its user's fields and its body, joined: the client's own cost per
        # command stays small beside the engine's it measures.
        self._heads = {
            user: commands_pb2.Command(
                user_id=user, email=f"{user}@bench", ts_ms=1, reply_to=self.name
            ).SerializeToString()
            for user in users
        }

    def _command(self, user: str, body: str) -> bytes:
        self._sent += 1
        order_id = f"{self.name}-{self._sent}"
        if body == "close_trade":
            tail = _field(14, _field(1, self.open_trade.pop(user).encode()))
        else:
            tail = _CREATE_ACCOUNT if body == "create_account" else _CREATE_TRADE
        payload = b"%b%b%b" % (_field(1, order_id.encode()), self._heads[user], tail)
        self.in_flight[order_id] = (user, time.perf_counter_ns())
        return _COMMAND_XADD + bulk(payload)

    def _next(self, only: str | None) -> bytes:
        user = self.idle.popleft()
        if only is not None:
            return self._command(user, only)
        return self._command(user, "close_trade" if user in self.open_trade else "create_trade")

    async def run(
        self, seconds: float, in_flight: int, only: str | None = None, limit: int = 0
    ) -> float:
        """Keep `in_flight` commands outstanding for `seconds` (or until `limit` answers);
        returns the time it took."""
        started = time.perf_counter()
        deadline = started + seconds
        outgoing = [self._next(only) for _ in range(min(in_flight, len(self.idle)))]
        sent = len(outgoing)
        while self.in_flight:
            read = pack(
                "XREAD", "COUNT", 10_000, "BLOCK", 2000, "STREAMS", self.stream, self.cursor
            )
            if len(outgoing) > 1:  # one transaction: the engine's blocked read wakes once, for all
                outgoing = [_MULTI, *outgoing, _EXEC]
            replies = await self.conn.call(b"".join(outgoing) + read, len(outgoing) + 1)
            outgoing = []
            for entry_id, fields in replies[-1][0][1] if replies[-1] else ():
                self.cursor = entry_id
                self._answer(responses_pb2.CommandResult.FromString(fields[1]))
            more = time.perf_counter() < deadline and (not limit or sent < limit)
            while more and self.idle and len(self.in_flight) < in_flight:
                outgoing.append(self._next(only))
                sent += 1
                more = not limit or sent < limit
        return time.perf_counter() - started

    def _answer(self, result: responses_pb2.CommandResult) -> None:
        user, sent_ns = self.in_flight.pop(result.order_id, (None, 0))
        if user is None:
            return  # an answer repeated after an engine restart
        self.latencies_ns.append(time.perf_counter_ns() - sent_ns)
        self.answered += 1
        self.answered_in_all += 1
        if result.error_code:
            self.rejected += 1
        elif result.HasField("trade_opened"):
            self.open_trade[user] = result.trade_opened.trade.trade_id
        self.idle.append(user)

    async def close(self) -> None:
        await self.conn.command("DEL", self.stream)
        self.conn.close()


async def _send_price(redis_url: str) -> None:
    batch = prices_pb2.PriceBatch(source="stream-bench")
    tick = batch.ticks.add(asset="SOL_USDC", ts_us=time.time_ns() // 1000)
    tick.bid.units, tick.bid.scale = SOL_BID, SOL_SCALE
    tick.ask.units, tick.ask.scale = SOL_ASK, SOL_SCALE
    conn = RespConnection(redis_url)
    await conn.command("XADD", streams.PRICES, "*", "p", batch.SerializeToString())
    conn.close()


def _percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index] / 1000


async def _measure(
    redis_url: str,
    seconds: float,
    in_flight: int,
    users: int,
    latency_seconds: float,
    send_price: bool,
    clients: int,
    watch_pids: Mapping[str, int],
) -> dict[str, Any]:
    if send_price:
        await _send_price(redis_url)
    run_id = uuid.uuid4().hex[:8]
    clients = max(1, min(clients, in_flight))
    names = [f"bench-{run_id}-{i}" for i in range(max(users, in_flight))]
    pool = [_Client(redis_url, names[i::clients]) for i in range(clients)]
    shares = [in_flight // clients + (i < in_flight % clients) for i in range(clients)]
    try:
        await asyncio.gather(
            *(
                c.run(60.0, share, only="create_account", limit=len(c.idle))
                for c, share in zip(pool, shares, strict=True)
            )
        )
        for client in pool:
            client.answered = client.rejected = 0
        cpu_before = {name: _cpu_s(pid) for name, pid in watch_pids.items()}
        client_before = time.process_time()
        took = await asyncio.gather(
            *(c.run(seconds, share) for c, share in zip(pool, shares, strict=True))
        )
        answered = sum(c.answered for c in pool)
        cpu = {name: _cpu_s(pid) - cpu_before[name] for name, pid in watch_pids.items()}
        cpu["client"] = time.process_time() - client_before
        rejected = sum(c.rejected for c in pool)
        alone = pool[0]
        alone.latencies_ns.clear()
        await alone.run(latency_seconds, 1)
        latencies = sorted(alone.latencies_ns)
        answered_in_all = sum(c.answered_in_all for c in pool)
    finally:
        for client in pool:
            await client.close()
    return {
        "commands_per_s": answered / max(took),
        "in_flight": in_flight,
        "clients": clients,
        "rejected": rejected,
        "answered_in_all": answered_in_all,
        "cpu_us_per_command": {k: v / max(1, answered) * 1e6 for k, v in cpu.items()},
        "p50_us": _percentile(latencies, 0.50),
        "p99_us": _percentile(latencies, 0.99),
        "latency_samples": len(latencies),
    }


def measure(
    redis_url: str,
    *,
    seconds: float,
    in_flight: int,
    users: int,
    latency_seconds: float | None = None,
    send_price: bool = True,
    clients: int = 1,
    watch_pids: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Drive a running engine: accounts first, then `seconds` of CREATE_TRADE / CLOSE_TRADE
    with `in_flight` commands outstanding in all (shared by `clients` pipelining clients, each
    on its own connection and answer stream, as gateway processes would be), then
    `latency_seconds` (default: `seconds`) with one client and one command at a time.

    Returns commands_per_s (the first phase), p50_us and p99_us (the second), how many answers
    were rejections, and cpu_us_per_command: the CPU each process of `watch_pids` (name ->
    pid, e.g. the engine's and Redis's) and this client spent per command in the first phase.
    `send_price` puts a SOL_USDC price on the price stream first, so that creates can open.
    Synchronous: it runs its own event loop, so call it outside one."""
    latency_s = seconds if latency_seconds is None else latency_seconds
    return uvloop.run(
        _measure(
            redis_url, seconds, in_flight, users, latency_s, send_price, clients, watch_pids or {}
        )
    )


def _start_engine(redis_url: str, snapshot_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(REDIS_URL=redis_url, SNAPSHOT_DIR=str(snapshot_dir), PYTHONUNBUFFERED="1")
    env.setdefault("ENGINE_METRICS_PORT", "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "engine"],
        cwd=REPO_ROOT, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "engine ready" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"engine did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine_svc.bench.stream_bench")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp:
        work = Path(tmp)
        embedded = None
        redis_url = args.redis_url
        if not redis_url:
            from mesh.embedded import EmbeddedRedis

            embedded = EmbeddedRedis(work / "redis")
            redis_url = embedded.start()
        engine = _start_engine(redis_url, work / "snapshots", work / "engine.log")
        pids = {"engine": engine.pid}
        if embedded is not None and embedded.process is not None:
            pids["redis"] = embedded.process.pid
        try:
            runs = [
                measure(
                    redis_url,
                    seconds=args.seconds,
                    in_flight=args.in_flight,
                    users=args.users,
                    clients=args.clients,
                    watch_pids=pids,
                )
                for _ in range(max(1, args.runs))
            ]
        finally:
            engine.terminate()
            engine.wait(60)
            if embedded is not None:
                embedded.stop()
    rates = sorted(r["commands_per_s"] for r in runs)
    each = ", ".join(f"{r:,.0f}" for r in rates)
    p50 = "/".join(f"{r['p50_us']:,.0f}" for r in runs)
    p99 = "/".join(f"{r['p99_us']:,.0f}" for r in runs)
    print(
        f"engine through its streams, journal fsync on, {args.in_flight} in flight"
        f" over {args.clients} clients:"
    )
    print(f"  {statistics.median(rates):,.0f} commands/s (runs: {each})")
    print(f"  one client: p50 {p50} us, p99 {p99} us (per run)")
    print(f"  rejections: {sum(r['rejected'] for r in runs)}")
    per_command = {
        name: statistics.median(r["cpu_us_per_command"][name] for r in runs)
        for name in runs[0]["cpu_us_per_command"]
    }
    shares = ", ".join(f"{name} {us:.0f}" for name, us in per_command.items())
    print(f"  CPU per command (us, median): {shares}")
    print(f"  so two cores of their own would be full at {2e6 / sum(per_command.values()):,.0f}/s")
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
