"""Cross-origin writes with the cookie: JSON-only bodies, and Origin / Sec-Fetch-Site checks on
cookie-authenticated writes (gateway_svc/rest/origin.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import responses_pb2
from fastapi import FastAPI

from gateway_svc.rest import create_app
from gateway_svc.rest.auth import COOKIE_NAME
from mesh.config import Settings
from tests.rest.conftest import Recorder, dec, session_token

BALANCE = {"command": "GET_USD_BALANCE"}
FRONT = "http://front.example:3000"  # conftest's FRONTEND_URL, as an origin


@pytest.fixture(autouse=True)
def balance_reply(recorder: Recorder) -> None:
    recorder.replies["GetUsdBalance"] = xs.GetUsdBalanceResponse(
        order_id="11111111-1111-4111-8111-111111111111",
        balance=responses_pb2.UsdBalance(email="a@b.co", usd_balance=dec(50_000_000, 4)),
    )


def cookie_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set(COOKIE_NAME, session_token())
    return client


def assert_envelope(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == "INVALID_ARGUMENT"
    assert words in body["error"]
    assert body["engineResponse"] == {"status": "error", "data": None, "message": body["error"]}


# ---- JSON only ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
async def test_a_write_whose_body_is_not_json_is_refused(
    client: httpx.AsyncClient, recorder: Recorder, auth_headers: dict[str, str], content_type: str
) -> None:
    # The no-preflight trick: a JSON text sent as text/plain.
    response = await client.post(
        "/api/v1/engine",
        content=b'{"command":"GET_USD_BALANCE"}',
        headers={**auth_headers, "Content-Type": content_type},
    )
    assert_envelope(response, 415, "Content-Type: application/json")
    assert recorder.calls == []


async def test_a_body_without_content_type_is_refused(
    client: httpx.AsyncClient, recorder: Recorder, auth_headers: dict[str, str]
) -> None:
    # httpx adds no Content-Type to raw bytes.
    response = await client.post(
        "/api/v1/engine", content=b'{"command":"GET_USD_BALANCE"}', headers=auth_headers
    )
    assert_envelope(response, 415, "application/json")
    assert recorder.calls == []


@pytest.mark.parametrize("path", ["/api/v1/user/signup", "/api/v1/user/signin"])
async def test_sign_in_link_requests_are_json_only(
    client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    response = await client.post(
        path, content=b'{"email":"a@b.co"}', headers={"Content-Type": "text/plain"}
    )
    assert_envelope(response, 415, "application/json")
    assert recorder.calls == []


async def test_json_with_a_charset_and_an_empty_logout_pass(
    client: httpx.AsyncClient, recorder: Recorder, auth_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/engine",
        content=b'{"command":"GET_USD_BALANCE"}',
        headers={**auth_headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    # The page's sign-out sends no body at all.
    logout = await cookie_client(client).post("/api/v1/user/logout")
    assert logout.status_code == 200, logout.text
    assert recorder.names() == ["GetUsdBalance", "SignOut"]


# ---- Origin / Sec-Fetch-Site on cookie writes -----------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost:8080"},  # another dev server on the same machine
        {"Origin": "http://sub.front.example:3000"},  # a sibling subdomain
        {"Origin": "null"},  # a sandboxed frame
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},  # Origin decides
    ],
)
async def test_a_cookie_write_from_another_page_is_refused(
    client: httpx.AsyncClient, recorder: Recorder, headers: dict[str, str]
) -> None:
    response = await cookie_client(client).post("/api/v1/engine", json=BALANCE, headers=headers)
    assert_envelope(response, 403, "cross-origin request refused")
    assert recorder.calls == []


async def test_a_cookie_sign_out_from_another_page_is_refused(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await cookie_client(client).post(
        "/api/v1/user/logout", headers={"Origin": "http://evil.example"}
    )
    assert_envelope(response, 403, "cross-origin")
    assert recorder.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, an SDK: no browser headers at all
        {"Origin": FRONT, "Sec-Fetch-Site": "same-site"},  # FRONTEND_URL on a sibling host
        {"Origin": "HTTP://FRONT.EXAMPLE:3000"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # the facade's page
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the user
    ],
)
async def test_a_cookie_write_from_our_page_or_no_browser_passes(
    client: httpx.AsyncClient, recorder: Recorder, headers: dict[str, str]
) -> None:
    response = await cookie_client(client).post("/api/v1/engine", json=BALANCE, headers=headers)
    assert response.status_code == 200, response.text
    assert recorder.names() == ["GetUsdBalance"]


async def test_a_bearer_call_is_not_checked(
    client: httpx.AsyncClient, recorder: Recorder, auth_headers: dict[str, str]
) -> None:
    # A page cannot make a browser add a Bearer token by itself; a client that has the token
    # may call from wherever it likes.
    response = await cookie_client(client).post(
        "/api/v1/engine",
        json=BALANCE,
        headers={**auth_headers, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 200, response.text


async def test_reads_are_not_checked(client: httpx.AsyncClient, recorder: Recorder) -> None:
    recorder.replies["ListSupportedAssets"] = xs.ListSupportedAssetsResponse()
    response = await cookie_client(client).get(
        "/api/v1/supportedAssets", headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 200


@pytest.fixture
async def allowed_client(settings: Settings, grpc_port: int) -> AsyncIterator[httpx.AsyncClient]:
    settings = dataclasses.replace(settings, allowed_origins=("https://desk.example",))
    app: FastAPI = create_app(settings, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_allowed_origins_may_write_with_the_cookie_and_get_cors(
    allowed_client: httpx.AsyncClient, recorder: Recorder
) -> None:
    client = cookie_client(allowed_client)
    response = await client.post(
        "/api/v1/engine",
        json=BALANCE,
        headers={"Origin": "https://desk.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "https://desk.example"
    refused = await client.post(
        "/api/v1/engine", json=BALANCE, headers={"Origin": "https://other.example"}
    )
    assert refused.status_code == 403


def test_allowed_origins_may_use_the_cookie_on_the_websocket(settings: Settings) -> None:
    from types import SimpleNamespace

    from gateway_svc.rest.ws import cookie_allowed

    def socket(origin: str) -> Any:
        return SimpleNamespace(headers={"origin": origin, "host": "testserver"})

    allowed = dataclasses.replace(settings, allowed_origins=("https://desk.example",))
    assert cookie_allowed(socket("https://desk.example"), allowed)
    assert not cookie_allowed(socket("https://desk.example"), settings)
    assert not cookie_allowed(socket("https://other.example"), allowed)
