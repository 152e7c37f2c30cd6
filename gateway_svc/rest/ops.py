"""Operator endpoints: /healthz (is the gRPC server serving?) and /metrics (Prometheus).

/healthz relays the gRPC server's health, which follows Redis, Postgres and the engine
(gateway_svc.dependency_health): 200 `{"status": "ok"}` while SERVING; otherwise 503 with the
server's status and, under `down`, the dependencies that made it so, read from their own health
statuses. Polled often, it costs one in-process gRPC call while healthy, and one per dependency
more while not.
"""

from __future__ import annotations

import asyncio

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST

from gateway_svc.dependency_health import DEPENDENCIES, dependency_service
from gateway_svc.rest import schemas
from gateway_svc.rest.jsonio import DecimalJSONResponse
from gateway_svc.rest.middleware import HttpMetrics
from gateway_svc.rest.routes_public import grpc_clients

router = APIRouter(tags=["operations"])

HEALTH_TIMEOUT_S = 1.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@router.get(
    "/healthz",
    response_model=schemas.Health,
    responses={
        503: {
            "model": schemas.Health,
            "description": "gRPC server not serving; `down` names the dependencies at fault",
        }
    },
    summary="200 when the gateway's gRPC server reports SERVING (Redis, Postgres, engine up)",
)
async def healthz(request: Request) -> DecimalJSONResponse:
    health = grpc_clients(request).health
    try:
        reply = await _check(health, "")
    except grpc.aio.AioRpcError as err:
        return DecimalJSONResponse(
            {"status": "unavailable", "detail": err.code().name}, status_code=503
        )
    if reply.status == SERVING:
        return DecimalJSONResponse({"status": "ok"})
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    down = await _down(health)
    return DecimalJSONResponse(
        {"status": "unavailable", "detail": status, "down": down}, status_code=503
    )


async def _check(
    health: health_pb2_grpc.HealthStub, service: str
) -> health_pb2.HealthCheckResponse:
    return await health.Check(
        health_pb2.HealthCheckRequest(service=service), timeout=HEALTH_TIMEOUT_S
    )


async def _down(health: health_pb2_grpc.HealthStub) -> list[str]:
    """The dependencies the server reports NOT_SERVING (one it cannot say is left out)."""
    replies = await asyncio.gather(
        *(_check(health, dependency_service(name)) for name in DEPENDENCIES),
        return_exceptions=True,
    )
    return [
        name
        for name, reply in zip(DEPENDENCIES, replies, strict=True)
        if isinstance(reply, health_pb2.HealthCheckResponse) and reply.status == NOT_SERVING
    ]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
    summary="Prometheus metrics: HTTP requests per route and status, plus process metrics",
)
async def metrics(request: Request) -> Response:
    http_metrics: HttpMetrics = request.app.state.metrics
    return Response(http_metrics.render(), media_type=CONTENT_TYPE_LATEST)
