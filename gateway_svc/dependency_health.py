"""gRPC health that follows the gateway's dependencies: Redis, Postgres and the engine.

Without Redis the gateway cannot reach the engine or stream prices; without Postgres it cannot
sign anyone in or record an order; without a live engine no command is answered. Either way a
load balancer (and /healthz, which relays the server status) should send traffic elsewhere, so
a running process alone is not "healthy". This is readiness, not liveness: restarting the
gateway brings no dependency back.

`DependencyHealth` asks each dependency a trivial question (Redis PING, Postgres SELECT 1) every
CHECK_INTERVAL_S, each bounded by CHECK_TIMEOUT_S, and sets the status of the server ("") and of
every service. It reports NOT_SERVING only after FAILURES_BEFORE_NOT_SERVING failed rounds in a
row: a single slow answer is usually a busy gateway (the Postgres probe waits for a free
connection in the shared pool, which requests may hold for a while), and draining a healthy
gateway because it is busy would only push its load onto the others. One round in which every
dependency answers reports SERVING again.

The engine is asked through its heartbeat (mesh.engine_heartbeat: does the key exist?). Its
absence is a definite answer, `DependencyDown`, which reports NOT_SERVING at once: the heartbeat's
own timeout (ENGINE_HEARTBEAT_TIMEOUT_MS) already waited, and a slow Redis is not mistaken for
it (the question failing to get an answer counts like any failed probe).

Each dependency's own status is reported too, under `dependency_service(name)`
("dependency.engine" ...): NOT_SERVING for those that failed the round that made (or kept) the
gateway NOT_SERVING, SERVING otherwise. That is how /healthz names what is down, and what
`grpc_health_probe -service=dependency.engine` asks.

It logs when the reported status changes, plus one DEBUG line when a run of failures starts
while still SERVING, never every round. A round that breaks (a probe or the servicer raising
something unexpected) is logged with its traceback and counted as failed; the loop goes on.
Only `stop()` ends it, for good; GrpcServerHandle.stop calls it before entering graceful
shutdown, so a draining server is never reported SERVING again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple

import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from mesh import abandon, engine_heartbeat

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 2.0
CHECK_TIMEOUT_S = 1.0
FAILURES_BEFORE_NOT_SERVING = 3

REDIS, POSTGRES, ENGINE = "redis", "postgres", "engine"
DEPENDENCIES = (REDIS, POSTGRES, ENGINE)
"""What the gateway's probes are named, in the order they are reported."""

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# Answers (any value) when the dependency is reachable, raises when it is not.
Probe = Callable[[], Awaitable[object]]


class DependencyDown(Exception):
    """A probe's definite answer that its dependency is down: NOT_SERVING at once."""


class _Failure(NamedTuple):
    reason: str
    definite: bool


def dependency_service(name: str) -> str:
    """The health service name one dependency's own status is reported under."""
    return f"dependency.{name}"


def engine_probe(redis: aioredis.Redis, heartbeat_timeout_ms: int) -> Probe:
    """Answers while the engine's heartbeat lives; DependencyDown once it has expired."""

    async def probe() -> None:
        if not await engine_heartbeat.alive(redis):
            raise DependencyDown(f"no heartbeat within {heartbeat_timeout_ms / 1000:g} s")

    return probe


class DependencyHealth:
    def __init__(
        self,
        health: health_aio.HealthServicer,
        services: Sequence[str],
        probes: Mapping[str, Probe],
        *,
        interval_s: float = CHECK_INTERVAL_S,
        timeout_s: float = CHECK_TIMEOUT_S,
        failures_before_not_serving: int = FAILURES_BEFORE_NOT_SERVING,
        on_gone: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        """`on_gone` hears after every round which dependencies answered that they are
        gone (`DependencyDown`: the engine's heartbeat expired), an empty set when none."""
        if failures_before_not_serving < 1:
            raise ValueError(
                f"failures_before_not_serving must be at least 1, got {failures_before_not_serving}"
            )
        self._health = health
        self._services = tuple(services)
        self._probes = dict(probes)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._threshold = failures_before_not_serving
        # serve() reports SERVING before the first round (for the server, each service and
        # each dependency), so that is where we start.
        self._serving = True
        self._failed_rounds = 0  # in a row, up to the last round
        self._down: frozenset[str] = frozenset()  # the dependencies reported NOT_SERVING
        self._task: asyncio.Task[None] | None = None
        self._on_gone = on_gone
        self._stuck: dict[str, asyncio.Future[object]] = {}  # probes cancelled, maybe not ended

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dependency-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def check_once(self) -> bool:
        """Ask every dependency once, count the round, and change the reported status if the
        verdict changed. True when all of them answered."""
        names = list(self._probes)
        answers = await asyncio.gather(*(self._ask(name, self._probes[name]) for name in names))
        failures = {name: failure for name, failure in zip(names, answers, strict=True) if failure}
        errors = {name: failure.reason for name, failure in failures.items()}
        gone = frozenset(name for name, failure in failures.items() if failure.definite)
        definite = bool(gone)
        if self._on_gone is not None:
            self._on_gone(gone)
        failed_rounds = self._failed_rounds + 1 if errors else 0
        serving = not errors or (self._serving and failed_rounds < self._threshold and not definite)
        await self._report_each(names, frozenset() if serving else frozenset(errors))
        if serving != self._serving:
            status = SERVING if serving else NOT_SERVING
            for service in self._services:
                await self._health.set(service, status)
            if serving:
                log.info("gateway SERVING again: %s answer", ", ".join(names))
            else:
                log.warning(
                    "gateway NOT_SERVING after %d failed checks in a row: %s",
                    failed_rounds,
                    describe_errors(errors),
                )
        elif serving and failed_rounds == 1:
            log.debug(
                "gateway still SERVING: %s; NOT_SERVING after %d failed checks in a row",
                describe_errors(errors),
                self._threshold,
            )
        # Only now, so a round that raised above is counted once, by _run, as a failure.
        self._serving, self._failed_rounds = serving, failed_rounds
        return not errors

    async def _report_each(self, names: list[str], down: frozenset[str]) -> None:
        """Each dependency's own status, where it changed."""
        for name in names:
            if (name in down) != (name in self._down):
                await self._health.set(
                    dependency_service(name), NOT_SERVING if name in down else SERVING
                )
        self._down = down

    async def _ask(self, name: str, probe: Probe) -> _Failure | None:
        """None when the probe answered in time, else what went wrong.

        A probe that has not answered in time is cancelled but not waited for: a client's
        cancellation can itself hang on a frozen server (psycopg's took 10 s against a
        stopped Postgres, which held the health at SERVING for 17 s). Until it ends, that
        dependency's later rounds fail at once instead of asking again."""
        stuck = self._stuck.get(name)
        if stuck is not None and not stuck.done():
            return _Failure("its last check has not ended yet", definite=False)
        task = asyncio.ensure_future(probe())
        try:
            await abandon.within(task, self._timeout_s)
        except TimeoutError:
            if not task.done():  # given up on (not a probe that raised TimeoutError itself)
                self._stuck[name] = task
                return _Failure(f"no answer within {self._timeout_s:g} s", definite=False)
            return _Failure("TimeoutError raised by the probe", definite=False)
        except asyncio.CancelledError:
            # A probe raising CancelledError of its own accord (a client cancelling its
            # internal work) is just a failed answer; a cancellation aimed at us (stop()) is
            # passed on. gather would re-raise stop()'s anyway, but never swallow one.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # abandon.within has cancelled the probe
            return _Failure("CancelledError raised by the probe", definite=False)
        except DependencyDown as down:
            return _Failure(str(down), definite=True)
        except Exception as error:  # whatever the client raised, the dependency is unusable
            return _Failure(f"{type(error).__name__}: {error}", definite=False)
        return None

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # never let the status freeze; stop()'s CancelledError ends it
                log.exception("dependency health round broke; counting it as failed")
                self._failed_rounds += 1  # reported next round, if that one fails too
            await asyncio.sleep(self._interval_s)


def describe_errors(errors: Mapping[str, str]) -> str:
    return "; ".join(f"{name} failed ({error})" for name, error in errors.items())
