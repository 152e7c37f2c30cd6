"""Operator endpoints: /healthz (is the gRPC server serving?) and /metrics (Prometheus)."""

from __future__ import annotations

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import Response
from grpc_health.v1 import health_pb2
from prometheus_client import CONTENT_TYPE_LATEST

from gateway_svc.rest import schemas
from gateway_svc.rest.jsonio import DecimalJSONResponse
from gateway_svc.rest.middleware import HttpMetrics
from gateway_svc.rest.routes_public import grpc_clients

router = APIRouter(tags=["operations"])

HEALTH_TIMEOUT_S = 1.0


@router.get(
    "/healthz",
    response_model=schemas.Health,
    responses={503: {"model": schemas.Health, "description": "gRPC server not serving"}},
    summary="200 when the gateway's gRPC server reports SERVING",
)
async def healthz(request: Request) -> DecimalJSONResponse:
    clients = grpc_clients(request)
    try:
        reply = await clients.health.Check(
            health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_S
        )
    except grpc.aio.AioRpcError as err:
        return DecimalJSONResponse(
            {"status": "unavailable", "detail": err.code().name}, status_code=503
        )
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return DecimalJSONResponse({"status": "unavailable", "detail": status}, status_code=503)
    return DecimalJSONResponse({"status": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "Prometheus text format"}},
    summary="Prometheus metrics: HTTP requests per route and status, plus process metrics",
)
async def metrics(request: Request) -> Response:
    http_metrics: HttpMetrics = request.app.state.metrics
    return Response(http_metrics.render(), media_type=CONTENT_TYPE_LATEST)
