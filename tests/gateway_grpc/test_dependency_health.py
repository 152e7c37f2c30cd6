"""Health follows Redis, Postgres and the engine: the checker alone with stand-in probes, then
a real gateway whose own Redis is stopped and restarted, whose Postgres database stops taking
connections for a while, and whose engine stops beating its heartbeat; gRPC Check (for the
server and for each dependency) and the REST /healthz, which names what is down, all follow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from sqlalchemy.engine import make_url

from gateway_svc.db import Database
from gateway_svc.dependency_health import (
    DEPENDENCIES,
    FAILURES_BEFORE_NOT_SERVING,
    DependencyDown,
    DependencyHealth,
    dependency_service,
)
from gateway_svc.grpc_server import AUTH_SERVICE, EXCHANGE_SERVICE, serve
from gateway_svc.rest import create_app
from mesh import streams
from mesh.config import Settings
from mesh.embedded import EmbeddedRedis
from tests.conftest import libpq_url
from tests.gateway_grpc.fake_engine import FakeEngine
from tests.polling import poll_async

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICES = ("", EXCHANGE_SERVICE, AUTH_SERVICE)
FAST_CHECKS_S = 0.1
POLL_S = 0.05
DEADLINE_S = 15.0
CHECKER_LOG = "gateway_svc.dependency_health"


class Dependency:
    """A stand-in probe for the checker alone: answers, raises `error`, or never answers."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.hangs = False
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.hangs:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error


async def serving_health() -> health_aio.HealthServicer:
    """A health servicer as serve() leaves it: SERVING for the server, each service and each
    dependency."""
    health = health_aio.HealthServicer()
    for service in (*SERVICES, *map(dependency_service, DEPENDENCIES)):
        await health.set(service, SERVING)
    return health


async def dependency_statuses(health: health_aio.HealthServicer) -> dict[str, int]:
    """Each dependency's own status, read through the servicer's own Check."""
    statuses = {}
    for name in DEPENDENCIES:
        request = health_pb2.HealthCheckRequest(service=dependency_service(name))
        statuses[name] = (await health.Check(request, None)).status
    return statuses


async def statuses(health: health_aio.HealthServicer) -> set[int]:
    """The status of every service, read through the servicer's own Check."""
    replies = [
        await health.Check(health_pb2.HealthCheckRequest(service=service), None)
        for service in SERVICES
    ]
    return {reply.status for reply in replies}


class BrittleHealth(health_aio.HealthServicer):
    """A health servicer whose next `breaks` calls to set() raise instead of setting."""

    def __init__(self) -> None:
        super().__init__()
        self.breaks = 0

    async def set(self, service: str, status: int) -> None:
        if self.breaks:
            self.breaks -= 1
            raise RuntimeError("servicer broke")
        await super().set(service, status)


def checker_logs(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == CHECKER_LOG]


async def eventually(condition: Callable[[], bool]) -> bool:
    """Poll `condition` until it holds (True) or DEADLINE_S passes (False)."""
    return bool(await poll_async(condition, timeout_s=DEADLINE_S, every_s=POLL_S, must=False))


# The checker alone


async def test_not_serving_while_a_dependency_fails_and_one_log_line_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = await serving_health()
    redis, postgres = Dependency(), Dependency()
    checker = DependencyHealth(health, SERVICES, {"redis": redis, "postgres": postgres})
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)

    assert await checker.check_once()
    assert await statuses(health) == {SERVING}
    postgres.error = ConnectionRefusedError("connection refused")
    for _ in range(FAILURES_BEFORE_NOT_SERVING + 2):
        assert not await checker.check_once()
    assert await statuses(health) == {NOT_SERVING}
    postgres.error = None
    for _ in range(3):
        assert await checker.check_once()
    assert await statuses(health) == {SERVING}

    assert checker_logs(caplog) == [
        (
            logging.WARNING,
            "gateway NOT_SERVING after 3 failed checks in a row: "
            "postgres failed (ConnectionRefusedError: connection refused)",
        ),
        (logging.INFO, "gateway SERVING again: redis, postgres answer"),
    ]


async def test_a_busy_moment_is_not_an_outage_three_failed_rounds_in_a_row_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A probe that misses its deadline once or twice (all pooled Postgres connections in use)
    leaves the gateway SERVING; the third failed round in a row drains it; one good round
    brings it back."""
    assert FAILURES_BEFORE_NOT_SERVING == 3
    health = await serving_health()
    postgres = Dependency()  # hangs = waits for a pooled connection past the timeout
    checker = DependencyHealth(health, SERVICES, {"postgres": postgres}, timeout_s=0.01)
    caplog.set_level(logging.DEBUG, logger=CHECKER_LOG)

    for busy in (False, True, True, False, True, True):  # failures, never three in a row
        postgres.hangs = busy
        assert await checker.check_once() is not busy
        assert await statuses(health) == {SERVING}
    postgres.hangs = True
    assert not await checker.check_once()  # the third in a row
    assert await statuses(health) == {NOT_SERVING}
    postgres.hangs = False
    assert await checker.check_once()
    assert await statuses(health) == {SERVING}
    postgres.hangs = True  # a fresh run of failures counts from one again
    for _ in range(FAILURES_BEFORE_NOT_SERVING - 1):
        assert not await checker.check_once()
    assert await statuses(health) == {SERVING}

    still = (
        logging.DEBUG,
        "gateway still SERVING: postgres failed (no answer within 0.01 s); "
        "NOT_SERVING after 3 failed checks in a row",
    )
    assert checker_logs(caplog) == [
        still,
        still,
        (
            logging.WARNING,
            "gateway NOT_SERVING after 3 failed checks in a row: "
            "postgres failed (no answer within 0.01 s)",
        ),
        (logging.INFO, "gateway SERVING again: postgres answer"),
        still,
    ]


def test_the_threshold_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="failures_before_not_serving must be at least 1, got 0"):
        DependencyHealth(health_aio.HealthServicer(), SERVICES, {}, failures_before_not_serving=0)


async def test_a_dependency_that_never_answers_counts_as_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = await serving_health()
    redis = Dependency()
    redis.hangs = True
    # One failed round is enough here: this is about the timeout, not the threshold.
    checker = DependencyHealth(
        health, SERVICES, {"redis": redis}, timeout_s=0.05, failures_before_not_serving=1
    )
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)

    assert not await asyncio.wait_for(checker.check_once(), 5)
    assert await statuses(health) == {NOT_SERVING}
    assert checker_logs(caplog) == [
        (
            logging.WARNING,
            "gateway NOT_SERVING after 1 failed checks in a row: "
            "redis failed (no answer within 0.05 s)",
        )
    ]


async def test_a_probe_whose_cancellation_hangs_does_not_hold_up_the_rounds() -> None:
    """psycopg cancelling a query on a frozen Postgres took 10 s, which wait_for waited out:
    health stayed SERVING for 17 s. A probe given up on is not waited for, and is not asked
    again while it is still ending."""
    release = asyncio.Event()
    calls = 0

    async def frozen() -> None:
        nonlocal calls
        calls += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # the driver's own cancellation, stuck on the server
            raise

    health = await serving_health()
    checker = DependencyHealth(health, SERVICES, {"postgres": frozen}, timeout_s=0.05)
    for _ in range(FAILURES_BEFORE_NOT_SERVING):
        assert not await asyncio.wait_for(checker.check_once(), 1)
    assert await statuses(health) == {NOT_SERVING}
    assert calls == 1  # the later rounds did not ask again while the first was still ending
    release.set()
    await asyncio.sleep(0)
    assert not await asyncio.wait_for(checker.check_once(), 1)
    assert calls == 2


async def test_the_task_checks_repeatedly_and_stop_ends_it_for_good() -> None:
    health = await serving_health()
    redis = Dependency()
    redis.error = ConnectionError("down")
    checker = DependencyHealth(health, SERVICES, {"redis": redis}, interval_s=0.01)
    checker.start()
    try:
        # More rounds than the threshold; the last one started after the third had settled.
        assert await eventually(lambda: redis.calls > FAILURES_BEFORE_NOT_SERVING), redis.calls
        assert await statuses(health) == {NOT_SERVING}
    finally:
        await checker.stop()
    redis.error = None
    calls = redis.calls
    await asyncio.sleep(10 * 0.01)  # ten intervals: a running task would have said SERVING
    assert redis.calls == calls
    assert await statuses(health) == {NOT_SERVING}


async def test_stop_ends_the_task_while_a_probe_hangs() -> None:
    """stop() ends the task mid-round too, now that a probe's own CancelledError is caught."""
    health = await serving_health()
    redis = Dependency()
    redis.hangs = True
    checker = DependencyHealth(health, SERVICES, {"redis": redis}, timeout_s=DEADLINE_S)
    checker.start()
    assert await eventually(lambda: redis.calls == 1)
    await asyncio.wait_for(checker.stop(), 5)
    assert redis.calls == 1
    assert await statuses(health) == {SERVING}


async def test_a_probe_raising_cancelled_error_is_a_failure_and_the_task_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = await serving_health()
    redis = Dependency()
    redis.error = asyncio.CancelledError()  # raised by the client itself, not by stop()
    checker = DependencyHealth(health, SERVICES, {"redis": redis}, interval_s=0.01)
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)
    checker.start()
    try:
        assert await eventually(lambda: redis.calls > FAILURES_BEFORE_NOT_SERVING), redis.calls
        assert await statuses(health) == {NOT_SERVING}
        redis.error = None
        calls = redis.calls
        assert await eventually(lambda: redis.calls > calls + 1), redis.calls
        assert await statuses(health) == {SERVING}
    finally:
        await checker.stop()
    assert checker_logs(caplog) == [
        (
            logging.WARNING,
            "gateway NOT_SERVING after 3 failed checks in a row: "
            "redis failed (CancelledError raised by the probe)",
        ),
        (logging.INFO, "gateway SERVING again: redis answer"),
    ]


async def test_a_round_that_breaks_is_logged_counted_as_failed_and_the_task_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The servicer raises when asked for NOT_SERVING: the round is a failure with a
    traceback in the log, the next round reports NOT_SERVING, and recovery still works."""
    health = BrittleHealth()
    for service in SERVICES:
        await health.set(service, SERVING)
    redis = Dependency()
    redis.error = ConnectionError("down")
    health.breaks = 1
    checker = DependencyHealth(health, SERVICES, {"redis": redis}, interval_s=0.01)
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)
    checker.start()
    try:
        # Rounds 1 and 2 fail quietly, round 3 breaks on set(), round 4 reports.
        assert await eventually(lambda: redis.calls > FAILURES_BEFORE_NOT_SERVING + 1)
        assert health.breaks == 0
        assert await statuses(health) == {NOT_SERVING}
        redis.error = None
        calls = redis.calls
        assert await eventually(lambda: redis.calls > calls + 1), redis.calls
        assert await statuses(health) == {SERVING}
    finally:
        await checker.stop()

    records = [r for r in caplog.records if r.name == CHECKER_LOG]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.ERROR, "dependency health round broke; counting it as failed"),
        (
            logging.WARNING,
            "gateway NOT_SERVING after 4 failed checks in a row: "
            "redis failed (ConnectionError: down)",
        ),
        (logging.INFO, "gateway SERVING again: redis answer"),
    ]
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


async def test_a_definite_down_drains_at_once_and_each_dependency_says_which(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine's expired heartbeat is an answer, not a missed one: NOT_SERVING in the first
    round (its own timeout already waited). Each dependency's own status names those at fault
    in the last round."""
    health = await serving_health()
    redis, postgres, engine = Dependency(), Dependency(), Dependency()
    checker = DependencyHealth(
        health, SERVICES, {"redis": redis, "postgres": postgres, "engine": engine}
    )
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)

    engine.error = DependencyDown("no heartbeat within 5 s")
    assert not await checker.check_once()
    assert await statuses(health) == {NOT_SERVING}
    assert await dependency_statuses(health) == {
        "redis": SERVING,
        "postgres": SERVING,
        "engine": NOT_SERVING,
    }
    postgres.error = ConnectionRefusedError("connection refused")  # also failing, once
    assert not await checker.check_once()
    assert (await dependency_statuses(health))["postgres"] == NOT_SERVING
    engine.error = None  # the engine is back, postgres still fails: down for postgres now
    assert not await checker.check_once()
    assert await statuses(health) == {NOT_SERVING}
    assert await dependency_statuses(health) == {
        "redis": SERVING,
        "postgres": NOT_SERVING,
        "engine": SERVING,
    }
    postgres.error = None
    assert await checker.check_once()
    assert await statuses(health) == {SERVING}
    assert set((await dependency_statuses(health)).values()) == {SERVING}

    assert checker_logs(caplog) == [
        (
            logging.WARNING,
            "gateway NOT_SERVING after 1 failed checks in a row: "
            "engine failed (no heartbeat within 5 s)",
        ),
        (logging.INFO, "gateway SERVING again: redis, postgres, engine answer"),
    ]


# A real gateway


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, redis: aioredis.Redis, db: Database, engine: FakeEngine | None = None
) -> AsyncIterator[tuple[health_pb2_grpc.HealthStub, httpx.AsyncClient]]:
    """The gRPC gateway checking its dependencies every FAST_CHECKS_S, an engine beating its
    heartbeat on the same Redis (`engine`, else one of its own), and the REST facade pointed at
    the gateway: (health stub, HTTP client)."""
    async with contextlib.AsyncExitStack() as stack:
        if engine is None:
            await stack.enter_async_context(FakeEngine(redis))
        handle = await serve(
            settings,
            redis,
            db,
            port=0,
            host="127.0.0.1",
            instance_id="gw-health",
            health_interval_s=FAST_CHECKS_S,
        )
        stack.push_async_callback(handle.stop, 1.0)
        target = f"127.0.0.1:{handle.port}"
        app = create_app(settings, lambda: grpc.aio.insecure_channel(target))
        transport = httpx.ASGITransport(app=app)
        async with (
            grpc.aio.insecure_channel(target) as channel,
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            yield health_pb2_grpc.HealthStub(channel), client


async def wait_for_status(stub: health_pb2_grpc.HealthStub, want: int) -> None:
    """Poll the server status until it is `want` (fails after DEADLINE_S), then check that
    every service says the same."""
    name = health_pb2.HealthCheckResponse.ServingStatus.Name
    await poll_async(
        lambda: stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0),
        lambda reply: reply.status == want,
        timeout_s=DEADLINE_S,
        every_s=POLL_S,
        what=f"health {name(want)}",
    )
    for service in SERVICES:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2.0)
        assert reply.status == want, service


async def assert_healthz(http: httpx.AsyncClient, down: list[str] | None = None) -> None:
    """200 with nothing `down`; else 503 naming what is."""
    response = await http.get("/healthz")
    if not down:
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
    else:
        assert (response.status_code, response.json()) == (
            503,
            {"status": "unavailable", "detail": "NOT_SERVING", "down": down},
        )


async def test_health_follows_redis_down_and_back(
    tmp_path: Path, settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)
    own_redis = EmbeddedRedis(tmp_path / "redis")  # ours alone, so stopping it harms no one
    client = streams.connect(own_redis.start())
    try:
        async with running_gateway(settings, client, db) as (health, http):
            await wait_for_status(health, SERVING)
            await assert_healthz(http)

            own_redis.stop()
            await wait_for_status(health, NOT_SERVING)
            # The engine's heartbeat is asked of Redis too: no answer, so not known alive.
            await assert_healthz(http, down=["redis", "engine"])

            own_redis.start()  # the same port: the gateway's client finds it again
            await wait_for_status(health, SERVING)
            await assert_healthz(http)
    finally:
        await client.aclose()
        own_redis.stop()

    logs = checker_logs(caplog)
    assert [level for level, _ in logs] == [logging.WARNING, logging.INFO], logs
    assert logs[0][1].startswith(
        "gateway NOT_SERVING after 3 failed checks in a row: redis failed ("
    ), logs


def allow_connections(admin_url: str, database: str, allowed: bool) -> None:
    """Open or shut `database` to new connections; shutting also ends the open ones."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


async def test_health_follows_postgres_down_and_back(
    settings: Settings,
    redis: aioredis.Redis,
    db: Database,
    database_url: str,
    postgres_admin_url: str,
) -> None:
    admin = libpq_url(postgres_admin_url)
    database = make_url(database_url).database
    assert database
    async with running_gateway(settings, redis, db) as (health, http):
        await wait_for_status(health, SERVING)

        allow_connections(admin, database, allowed=False)
        try:
            await wait_for_status(health, NOT_SERVING)
            await assert_healthz(http, down=["postgres"])
        finally:
            allow_connections(admin, database, allowed=True)
        await wait_for_status(health, SERVING)
        await assert_healthz(http)


async def test_health_follows_the_engine_frozen_and_back(
    settings: Settings, redis: aioredis.Redis, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """An engine that stops beating (frozen, dead) is reported down once its heartbeat expires,
    by gRPC health and by /healthz, which names it; beating again, it is back."""
    caplog.set_level(logging.INFO, logger=CHECKER_LOG)
    engine = FakeEngine(redis)
    async with engine, running_gateway(settings, redis, db, engine) as (health, http):
        await wait_for_status(health, SERVING)
        await assert_healthz(http)

        engine.beating = False
        await wait_for_status(health, NOT_SERVING)
        await assert_healthz(http, down=["engine"])
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service=dependency_service("engine")), timeout=2.0
        )
        assert reply.status == NOT_SERVING

        engine.beating = True
        await wait_for_status(health, SERVING)
        await assert_healthz(http)

    timeout_s = settings.engine_heartbeat_timeout_ms / 1000
    assert checker_logs(caplog) == [
        (
            logging.WARNING,
            "gateway NOT_SERVING after 1 failed checks in a row: "
            f"engine failed (no heartbeat within {timeout_s:g} s)",
        ),
        (logging.INFO, "gateway SERVING again: redis, postgres, engine answer"),
    ]
