"""How the facade passes the gRPC server's limits on: 429 with Retry-After, the field at fault,
and the body size limit from Settings."""

from __future__ import annotations

import dataclasses
import uuid

import grpc
import httpx
import pytest

from gateway_svc.rest import create_app
from tests.rest.conftest import FakeError, Recorder

LIMITED = "too many requests: at most 20 per second per user (bursts of 40)"


@pytest.mark.parametrize(
    ("sent", "header"),
    [
        ((("retry-after", "7"),), "7"),
        ((), "1"),  # no hint from the server: still a Retry-After, the shortest
        ((("retry-after", "0"),), "1"),
        ((("retry-after", "soon"),), "1"),
        ((("retry-after", "999999999"),), "3600"),
    ],
)
async def test_rate_limited_is_429_with_retry_after(
    client, recorder: Recorder, auth_headers, sent, header
) -> None:
    recorder.replies["GetBalance"] = FakeError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", LIMITED, "o-429", extra=sent
    )
    response = await client.post(
        "/api/v1/engine", json={"command": "GET_BALANCE"}, headers=auth_headers
    )

    assert response.status_code == 429
    assert response.headers["retry-after"] == header
    envelope = response.json()
    assert envelope["code"] == "RATE_LIMITED"
    assert envelope["error"] == LIMITED
    assert uuid.UUID(envelope["orderId"]).version == 4  # a read keeps the request's own id


async def test_sign_in_link_limit_is_429_too(client, recorder: Recorder) -> None:
    recorder.replies["RequestSignInLink"] = FakeError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
        "too many sign-in link requests: try again later",
        extra=(("retry-after", "840"),),
    )
    response = await client.post("/api/v1/user/signup", json={"email": "a@b.co"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "840"


async def test_openapi_documents_retry_after(client) -> None:
    document = (await client.get("/openapi.json")).json()
    limited = document["paths"]["/api/v1/engine"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True


@pytest.mark.parametrize(
    ("grpc_field", "rest_field"),
    [("trade_id", "tradeId"), ("email", "email"), ("page_token", "cursor")],
)
async def test_the_grpc_servers_field_names_the_rest_field(
    client, recorder: Recorder, auth_headers, grpc_field, rest_field
) -> None:
    """Input the facade let through but the server refused still names the field."""
    recorder.replies["GetBalance"] = FakeError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        f"{grpc_field} is not valid",
        extra=(("x-error-field", grpc_field),),
    )
    response = await client.post(
        "/api/v1/engine", json={"command": "GET_BALANCE"}, headers=auth_headers
    )
    assert response.status_code == 400
    assert response.json()["field"] == rest_field


async def test_body_limit_comes_from_settings(settings, grpc_port, recorder, auth_headers) -> None:
    small = dataclasses.replace(settings, http_max_body_bytes=64)
    app = create_app(small, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = '{"command":"GET_BALANCE","orderId":"' + "0" * 80 + '"}'
            response = await client.post("/api/v1/engine", content=body, headers=auth_headers)
    finally:
        await app.state.clients.close()
    assert response.status_code == 413
    assert "at most 64 bytes" in response.json()["error"]
    assert recorder.calls == []
