"""gRPC health that follows the gateway's dependencies: Redis and Postgres.

Without Redis the gateway cannot reach the engine or stream prices; without Postgres it cannot
sign anyone in or record an order. Either way a load balancer (and /healthz, which relays the
server status) should send traffic elsewhere, so a running process alone is not "healthy".

`DependencyHealth` asks each dependency a trivial question (Redis PING, Postgres SELECT 1) every
CHECK_INTERVAL_S, each bounded by CHECK_TIMEOUT_S, and sets the status of the server ("") and of
every service: NOT_SERVING while any dependency fails, SERVING again once all answer. It logs
transitions only, never every round. `stop()` ends it for good; GrpcServerHandle.stop calls it
before entering graceful shutdown, so a draining server is never reported SERVING again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 2.0
CHECK_TIMEOUT_S = 1.0

# Answers (any value) when the dependency is reachable, raises when it is not.
Probe = Callable[[], Awaitable[object]]


class DependencyHealth:
    def __init__(
        self,
        health: health_aio.HealthServicer,
        services: Sequence[str],
        probes: Mapping[str, Probe],
        *,
        interval_s: float = CHECK_INTERVAL_S,
        timeout_s: float = CHECK_TIMEOUT_S,
    ) -> None:
        self._health = health
        self._services = tuple(services)
        self._probes = dict(probes)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        # serve() reports SERVING before the first round, so that is where we start.
        self._failing: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dependency-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def check_once(self) -> bool:
        """Ask every dependency once; change the health status if the verdict changed.
        True when all of them answered."""
        names = list(self._probes)
        answers = await asyncio.gather(*(self._ask(self._probes[name]) for name in names))
        errors = {name: error for name, error in zip(names, answers, strict=True) if error}
        failing = frozenset(errors)
        if failing != self._failing:
            if failing:
                log.warning(
                    "gateway NOT_SERVING: %s",
                    "; ".join(f"{name} failed ({error})" for name, error in errors.items()),
                )
            else:
                log.info("gateway SERVING again: %s answer", ", ".join(names))
            if bool(failing) != bool(self._failing):
                status = (
                    health_pb2.HealthCheckResponse.NOT_SERVING
                    if failing
                    else health_pb2.HealthCheckResponse.SERVING
                )
                for service in self._services:
                    await self._health.set(service, status)
            self._failing = failing
        return not failing

    async def _ask(self, probe: Probe) -> str | None:
        """None when the probe answered in time, else what went wrong."""
        try:
            await asyncio.wait_for(probe(), self._timeout_s)
        except TimeoutError:
            return f"no answer within {self._timeout_s:g} s"
        except Exception as error:  # whatever the client raised, the dependency is unusable
            return f"{type(error).__name__}: {error}"
        return None

    async def _run(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self._interval_s)
