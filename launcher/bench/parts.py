"""One function per part of the table. Each takes the running exchange and returns its
figures by row key (launcher.bench.table), plus notes; an exception fails the part's rows."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway_svc.db.urls import libpq_conninfo
from launcher.bench import ceiling, cpu_share, floor, grpc_load, rest_load, storm
from launcher.bench import stream_client as sc
from launcher.bench.audit_lag import AuditWatch
from launcher.bench.exchange import Exchange, User
from launcher.bench.open_loop import OpenLoop, OpenLoopResult
from launcher.bench.table import AUDIT_RATE, OPEN_LOOP_RATES

T = TypeVar("T")
IN_FLIGHT = 64
# gRPC's 64 in flight over this many connections. The gateway's workers share the port by
# SO_REUSEPORT, which places each connection by a hash: over 8, a 6-2 split was common and left
# one worker idle; 16 spread more like the many clients a real gateway serves.
GRPC_CONNECTIONS = 16


@dataclass(frozen=True)
class Sizes:
    runs: int
    seconds: float
    """Each loaded measurement (closed or open loop)."""
    one_seconds: float
    """Each one-client measurement."""
    open_seconds: float
    """Each open-loop rate's schedule."""
    floor_samples: int
    storm_positions: int
    storm_runs: int
    part_timeout_s: float
    budget_s: float
    """All parts, once the exchange is up; parts not started by then are reported skipped."""
    storm_reserve_s: float
    """Kept for the storm, which runs last: the other parts stop starting before it."""
    settle_s: float
    """At most this long after each part for the ledger to catch up."""


FULL = Sizes(
    runs=3, seconds=5.0, one_seconds=3.0, open_seconds=5.0, floor_samples=2_000,
    storm_positions=100_000, storm_runs=3, part_timeout_s=240.0, budget_s=580.0,
    storm_reserve_s=240.0, settle_s=20.0,
)  # fmt: skip
QUICK = Sizes(
    runs=1, seconds=1.0, one_seconds=1.0, open_seconds=0.5, floor_samples=200,
    storm_positions=2_000, storm_runs=1, part_timeout_s=20.0, budget_s=38.0,
    storm_reserve_s=12.0, settle_s=2.0,
)  # fmt: skip


@dataclass
class Context:
    exchange: Exchange
    users: list[User]
    sizes: Sizes
    work: Path
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def rest_users(self) -> list[User]:
        return self.users[0:4]

    @property
    def open_loop_users(self) -> list[User]:
        return self.users[4:8]

    @property
    def grpc_user(self) -> User:
        return self.users[8]


USERS = 9


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """uvloop when installed: the bench's own clients must not be what limits a figure."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def measure_floor(ctx: Context) -> dict[str, float]:
    ex = ctx.exchange
    return floor.measure(ex.redis_url, ex.snapshot_dir, samples=ctx.sizes.floor_samples)


def measure_engine(ctx: Context) -> dict[str, float]:
    """Two figures: the engine and Redis alone (the ledger paused, so the audit records and
    events the commands make wait in their streams: the engine's own rate, which the target
    speaks of), with two pipelining clients as two gateway processes would be; then the same
    load while the whole exchange runs (the ledger writing every command's audit row)."""
    from engine_svc.bench import stream_bench  # the engine's own client, as its engineers built it

    with ctx.exchange.paused("ledger"):
        alone = stream_bench.measure(
            ctx.exchange.redis_url,
            seconds=ctx.sizes.seconds,
            in_flight=2 * IN_FLIGHT,
            users=2 * IN_FLIGHT,
            clients=2,
            latency_seconds=ctx.sizes.one_seconds,
            send_price=False,  # the replayed prices stay the only ones
        )
    busy = stream_bench.measure(
        ctx.exchange.redis_url,
        seconds=ctx.sizes.seconds,
        in_flight=IN_FLIGHT,
        users=IN_FLIGHT,
        latency_seconds=0.0,
        send_price=False,
    )
    return {
        "engine.alone_rate": alone["commands_per_s"],
        "engine.rate": busy["commands_per_s"],
        "engine.one_p50": alone["p50_us"] / 1000,
        "engine.one_p99": alone["p99_us"] / 1000,
        "engine.rejected": alone["rejected"] + busy["rejected"],
    }


def measure_grpc(ctx: Context) -> dict[str, float]:
    ex, user, sizes = ctx.exchange, ctx.grpc_user, ctx.sizes
    body = grpc_load.write_body(ctx.work / "grpc-create-trade.bin")
    log_file = ctx.work / "h2load.tsv"
    try:
        with (
            grpc_load.StatusSampler(ex.grpc_target, user.token) as sampler,
            cpu_share.measured(ex.process_roots()) as cpu,
        ):
            loaded = grpc_load.run_h2load(
                ex.grpc_target, user.token, body, log_file,
                clients=GRPC_CONNECTIONS, streams=IN_FLIGHT // GRPC_CONNECTIONS,
                seconds=sizes.seconds,
            )  # fmt: skip
        one = grpc_load.run_h2load(
            ex.grpc_target, user.token, body, log_file, clients=1, streams=1,
            seconds=sizes.one_seconds,
        )  # fmt: skip
    finally:
        _close_left_open(ex.redis_url, [user])  # CreateTrade only opens
    ctx.notes["grpc.sample_errors"] = sampler.describe()
    return {
        **_cpu_figure(ctx, "grpc.cpu", cpu, loaded["rate"]),
        "grpc.rate": loaded["rate"],
        "grpc.p99": loaded["p99_ms"],
        "grpc.one_p50": one["p50_ms"],
        "grpc.one_p99": one["p99_ms"],
        "grpc.failed": loaded["failed"] + one["failed"],
        "grpc.sample_errors": float(sampler.errors),
    }


def _cpu_figure(ctx: Context, key: str, cpu: cpu_share.CpuShare, rate: float) -> dict[str, float]:
    """The loop's CPU per request over every process (the row), and by service (its note)."""
    per_service = cpu.per_request_ms(rate)
    if not per_service:
        return {}
    ctx.notes[key] = cpu.describe(rate)
    return {key: sum(per_service.values())}


async def _close_all(redis_url: str, user: User) -> int:
    client = sc.EngineStreamClient(redis_url)
    try:
        return await sc.close_all(client, user.user_id, user.email)
    finally:
        await client.close()


def _close_left_open(redis_url: str, users: list[User]) -> None:
    """Close what a run left open (a client that gave up never closes), so every run starts
    from the same state: no user's balance or open-trade list grows from run to run."""
    for user in users:
        with contextlib.suppress(Exception):
            run_async(_close_all(redis_url, user))


def measure_rest(ctx: Context) -> dict[str, float]:
    ex, sizes = ctx.exchange, ctx.sizes
    tokens = [user.token for user in ctx.rest_users]
    script = rest_load.write_wrk_script(ctx.work / "wrk-trades.lua", tokens)
    with cpu_share.measured(ex.process_roots()) as cpu:
        loaded = rest_load.run_wrk(
            ex.base_url, script, connections=IN_FLIGHT, threads=2, seconds=sizes.seconds
        )
    one = rest_load.run_wrk(
        ex.base_url, script, connections=1, threads=1, seconds=sizes.one_seconds
    )
    _close_left_open(ex.redis_url, ctx.rest_users)
    return {
        **_cpu_figure(ctx, "rest.cpu", cpu, loaded["rate"]),
        "rest.rate": loaded["rate"],
        "rest.p99": loaded["p99_ms"],
        "rest.one_p50": one["p50_ms"],
        "rest.one_p99": one["p99_ms"],
        "rest.errors": loaded["errors"] + one["errors"],
    }


def measure_ceiling(ctx: Context) -> dict[str, float]:
    """The same two closed loops against the gateway's frameworks alone (launcher.bench.ceiling),
    with as many workers as the gateway runs: what the door would reach if our code were free.
    Then REST once more without the facade's gRPC call, to tell what that call costs."""
    sizes = ctx.sizes
    workers = ctx.exchange.gateway_workers()
    body = grpc_load.write_body(ctx.work / "grpc-create-trade.bin")
    script = rest_load.write_wrk_script(ctx.work / "wrk-ceiling.lua", ["no-one-checks-this"])
    http_only = rest_load.write_wrk_script(
        ctx.work / "wrk-ceiling-http.lua", ["no-one-checks-this"],
        ceiling.HTTP_ONLY_PREFIX + rest_load.ENGINE_PATH,
    )  # fmt: skip
    with ceiling.running(workers, ctx.work / "ceiling") as servers:
        roots = {"ceiling": servers.pids}
        with cpu_share.measured(roots) as grpc_cpu:
            grpc_loop = grpc_load.run_h2load(
                servers.grpc_target, "no-one-checks-this", body, ctx.work / "h2load-ceiling.tsv",
                clients=GRPC_CONNECTIONS, streams=IN_FLIGHT // GRPC_CONNECTIONS,
                seconds=sizes.seconds,
            )  # fmt: skip
        with cpu_share.measured(roots) as rest_cpu:
            rest_loop = rest_load.run_wrk(
                servers.base_url, script, connections=IN_FLIGHT, threads=2, seconds=sizes.seconds
            )
        with cpu_share.measured(roots) as http_cpu:
            http_loop = rest_load.run_wrk(
                servers.base_url, http_only, connections=IN_FLIGHT, threads=2,
                seconds=sizes.seconds,
            )  # fmt: skip
    ctx.notes["ceiling.grpc_rate"] = ctx.notes["ceiling.rest_rate"] = f"{workers} workers"
    ctx.notes["ceiling.http_rate"] = "no gRPC call; wrk shares the two cores"
    return {
        **_cpu_figure(ctx, "ceiling.grpc_cpu", grpc_cpu, grpc_loop["rate"]),
        **_cpu_figure(ctx, "ceiling.rest_cpu", rest_cpu, rest_loop["rate"]),
        **_cpu_figure(ctx, "ceiling.http_cpu", http_cpu, http_loop["rate"]),
        "ceiling.grpc_rate": grpc_loop["rate"],
        "ceiling.rest_rate": rest_loop["rate"],
        "ceiling.http_rate": http_loop["rate"],
        "ceiling.errors": grpc_loop["failed"] + rest_loop["errors"] + http_loop["errors"],
    }


def measure_open_loop(ctx: Context) -> dict[str, float]:
    ex = ctx.exchange
    users = ctx.open_loop_users
    tokens = [user.token for user in users]
    host = f"127.0.0.1:{ex.http_port}"
    figures: dict[str, float] = {}
    for rate in OPEN_LOOP_RATES:
        watch = None
        if rate == AUDIT_RATE:
            user_ids = [user.user_id for user in users]
            watch = AuditWatch(libpq_conninfo(ex.database_url), user_ids)
        workload = rest_load.TradeCycle(host, tokens, watch.answered if watch else None)
        generator = OpenLoop("127.0.0.1", ex.http_port, workload)
        own_cpu_before = time.process_time()
        with cpu_share.measured(ex.process_roots()) as cpu:
            result = run_async(_open_loop_run(generator, rate, ctx.sizes.open_seconds, watch))
        # The generator (and the audit watch) run here, on the same two cores as the exchange.
        cpu.seconds["generator"] = time.process_time() - own_cpu_before
        if cpu.wall_s > 0:
            figures.update(_cpu_figure(ctx, f"open.{rate}.cpu", cpu, result.scheduled / cpu.wall_s))
        if watch is not None:
            figures["audit.p99"] = watch.p99_ms()
            figures["audit.missing"] = float(watch.missing)
            ctx.notes["audit.missing"] = f"{len(watch.lags_ms)} orders watched"
        summary = result.summary()
        figures.update(
            {
                f"open.{rate}.p50": summary["p50_ms"],
                f"open.{rate}.p99": summary["p99_ms"],
                f"open.{rate}.max": summary["max_ms"],
                f"open.{rate}.errors": summary["errors"],
            }
        )
        _close_left_open(ex.redis_url, users)
        kinds = ", ".join(f"{kind}: {n}" for kind, n in result.errors.most_common(3))
        ctx.notes[f"open.{rate}.errors"] = f"sent {summary['sent_per_s']:,.0f}/s" + (
            f"; {kinds}" if kinds else ""
        )
    return figures


async def _open_loop_run(
    generator: OpenLoop, rate: int, seconds: float, watch: AuditWatch | None
) -> OpenLoopResult:
    if watch is None:
        return await generator.run(rate, seconds)
    load_done = asyncio.Event()
    watching = asyncio.create_task(watch.run(load_done))
    try:
        return await generator.run(rate, seconds)
    finally:
        load_done.set()
        await watching


def measure_storm(ctx: Context) -> dict[str, float]:
    ex, sizes = ctx.exchange, ctx.sizes
    positions = sizes.storm_positions
    ctx.notes["storm.persisted"] = f"{positions:,} positions"
    return storm.run(ex.redis_url, ex.database_url, positions=positions, timeout_s=120.0)


PARTS: dict[str, Callable[[Context], dict[str, float]]] = {
    "floor": measure_floor,
    "engine": measure_engine,
    "grpc": measure_grpc,
    "rest": measure_rest,
    "ceiling": measure_ceiling,
    "open": measure_open_loop,
    "storm": measure_storm,
}
