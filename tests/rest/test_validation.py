"""Bad input reaches nothing: each case gets a 4xx envelope naming the field, and the fake
gRPC server records no call at all."""

from __future__ import annotations

import pytest

from tests.rest.conftest import JWT_SECRET, Recorder, session_token

TRADE = '{"command":"CREATE_TRADE","asset":"SOL_USDC","direction":"LONG",'


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ("{not json", 400, "INVALID_ARGUMENT", None),
        ("", 400, "INVALID_ARGUMENT", None),
        ("[1, 2]", 400, "INVALID_ARGUMENT", None),
        ('"CREATE_TRADE"', 400, "INVALID_ARGUMENT", None),
        ("\xff\xfe garbage", 400, "INVALID_ARGUMENT", None),
        ('{"command":"SELL_EVERYTHING"}', 400, "INVALID_ARGUMENT", "command"),
        ('{"command":7}', 400, "INVALID_ARGUMENT", "command"),
        ("{}", 400, "INVALID_ARGUMENT", "command"),
        ('{"command":"GET_BALANCE","asset":"SOL_USDC"}', 400, "INVALID_ARGUMENT", "asset"),
        ('{"command":"GET_BALANCE","orderId":"not-a-uuid"}', 400, "INVALID_ARGUMENT", "orderId"),
        ('{"command":"GET_BALANCE","command":"GET_BALANCE"}', 400, "INVALID_ARGUMENT", "command"),
        (TRADE + '"margin":10,"bogus":1}', 400, "INVALID_ARGUMENT", "bogus"),
        (
            '{"command":"CREATE_TRADE","asset":"DOGE_USDC","direction":"LONG","margin":10}',
            400,
            "UNKNOWN_ASSET",
            "asset",
        ),
        (
            '{"command":"CREATE_TRADE","direction":"LONG","margin":10}',
            400,
            "UNKNOWN_ASSET",
            "asset",
        ),
        (TRADE.replace("LONG", "long") + '"margin":10}', 400, "INVALID_ARGUMENT", "direction"),
        # The proto enum's number is not a name REST takes (it would open a LONG).
        (TRADE.replace('"LONG"', "1") + '"margin":10}', 400, "INVALID_ARGUMENT", "direction"),
        (TRADE + '"margin":10.00001}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":100.00000000000000000000000000001}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":"10"}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":true}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":NaN}', 400, "INVALID_ARGUMENT", None),
        (TRADE + '"margin":Infinity}', 400, "INVALID_ARGUMENT", None),
        (TRADE + '"margin":-5}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":0}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":1e999999999}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":' + "9" * 4000 + "}", 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":' + "9" * 5000 + "}", 400, "INVALID_ARGUMENT", None),
        (TRADE + '"margin":null}', 400, "INVALID_MARGIN", "margin"),
        (TRADE + '"margin":10,"leverage":10.5}', 400, "INVALID_LEVERAGE", "leverage"),
        (TRADE + '"margin":10,"leverage":9}', 400, "INVALID_LEVERAGE", "leverage"),
        (TRADE + '"margin":10,"leverage":1001}', 400, "INVALID_LEVERAGE", "leverage"),
        (TRADE + '"margin":10,"leverage":true}', 400, "INVALID_LEVERAGE", "leverage"),
        (TRADE + '"margin":10,"leverage":"100"}', 400, "INVALID_LEVERAGE", "leverage"),
        (TRADE + '"margin":10,"stopLossPrice":1.0000001}', 400, "INVALID_PRICE", "stopLossPrice"),
        (
            '{"command":"CREATE_TRADE","asset":"BTC_USDC","direction":"LONG","margin":10,'
            '"takeProfitPrice":100000.00001}',
            400,
            "INVALID_PRICE",
            "takeProfitPrice",
        ),
        (TRADE + '"margin":10,"takeProfitPrice":-1}', 400, "INVALID_PRICE", "takeProfitPrice"),
        ('{"command":"CLOSE_TRADE"}', 400, "INVALID_ARGUMENT", "tradeId"),
        (
            '{"command":"CLOSE_TRADE","tradeId":"' + "x" * 65 + '"}',
            400,
            "INVALID_ARGUMENT",
            "tradeId",
        ),
        ('{"command":"CLOSE_TRADE","tradeId":"a b"}', 400, "INVALID_ARGUMENT", "tradeId"),
        ('{"command":"CLOSE_TRADE","tradeId":12}', 400, "INVALID_ARGUMENT", "tradeId"),
    ],
)
async def test_bad_engine_bodies_reach_nothing(
    client, recorder: Recorder, auth_headers, body, status, code, field
) -> None:
    raw = body.encode("latin-1") if "\xff" in body else body.encode()
    response = await client.post(
        "/api/v1/engine", content=raw, headers={**auth_headers, "Content-Type": "application/json"}
    )

    assert response.status_code == status, response.text
    envelope = response.json()
    assert envelope["success"] is False
    assert envelope["code"] == code
    assert envelope["engineResponse"] == {
        "status": "error",
        "data": None,
        "message": envelope["error"],
    }
    if field:
        assert envelope["field"] == field
        assert field in envelope["error"]
    assert recorder.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {session_token(secret='someone-elses-secret-0123456789abc')}"},
        {"Authorization": f"Bearer {session_token(expires_in=-3600)}"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Cookie": "authToken=forged.token.value"},
    ],
)
async def test_missing_or_forged_token_is_401(client, recorder, headers) -> None:
    response = await client.post("/api/v1/engine", json={"command": "GET_BALANCE"}, headers=headers)
    assert response.status_code == 401
    envelope = response.json()
    assert envelope["code"] == "UNAUTHENTICATED"
    assert envelope["field"] == "authToken"
    assert response.headers["www-authenticate"] == "Bearer"
    assert recorder.calls == []


async def test_alg_none_token_is_refused(client, recorder) -> None:
    import jwt

    token = jwt.encode({"sub": "x"}, None, algorithm="none")
    response = await client.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert recorder.calls == []
    assert JWT_SECRET  # the right secret exists; the token simply does not use it


async def test_oversize_body_is_413(client, recorder, auth_headers) -> None:
    body = '{"command":"GET_BALANCE","pad":"' + "x" * 20_000 + '"}'
    response = await client.post("/api/v1/engine", content=body, headers=auth_headers)
    assert response.status_code == 413
    envelope = response.json()
    assert envelope["success"] is False
    assert "16384" in envelope["error"]
    assert recorder.calls == []


async def test_oversize_chunked_body_is_413(client, recorder, auth_headers) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 1024

    response = await client.post("/api/v1/engine", content=chunks(), headers=auth_headers)
    assert response.status_code == 413
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "field", "code"),
    [
        ("/api/v1/price?asset=DOGE_USDC", "asset", "UNKNOWN_ASSET"),
        ("/api/v1/price", "asset", "UNKNOWN_ASSET"),
        ("/api/v1/candles?asset=SOL_USDC&interval=2m", "interval", "INVALID_ARGUMENT"),
        ("/api/v1/candles?asset=SOL_USDC&startTime=abc", "startTime", "INVALID_ARGUMENT"),
        ("/api/v1/candles?asset=SOL_USDC&startTime=-1", "startTime", "INVALID_ARGUMENT"),
        ("/api/v1/trades/closed?limit=0", "limit", "INVALID_ARGUMENT"),
        ("/api/v1/orders?limit=201", "limit", "INVALID_ARGUMENT"),
    ],
)
async def test_bad_query_parameters(client, recorder, auth_headers, path, field, code) -> None:
    response = await client.get(path, headers=auth_headers)
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["code"] == code
    assert envelope["field"] == field
    assert recorder.calls == []


@pytest.mark.parametrize(
    "body",
    [
        '{"email":"nope"}',
        '{"email":12}',
        "{}",
        '{"email":"a@b.co","admin":true}',
        '{"email":"' + "a" * 300 + '@b.co"}',
        "[]",
    ],
)
async def test_bad_signup_bodies(client, recorder, body) -> None:
    response = await client.post(
        "/api/v1/user/signup", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert recorder.calls == []


async def test_rejection_echoes_the_client_order_id(client, recorder, auth_headers) -> None:
    body = {
        "command": "CREATE_TRADE",
        "asset": "SOL_USDC",
        "direction": "LONG",
        "margin": 10,
        "leverage": 5000,
        "orderId": "0b7c6f5e-8a57-4c4f-9d3e-2f1a4b5c6d7e",
    }
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert response.status_code == 400
    assert response.json()["orderId"] == body["orderId"]
    assert response.json()["field"] == "leverage"
    assert recorder.calls == []


LONE_SURROGATE_BODIES = [
    b'{"command": "GET_USD_BALANCE", "orderId\\ud946": null}',
    b'{"command":"GET_BALANCE","\\udfff":1,"\\udfff":2}',
    b'{"command":"CLOSE_TRADE","tradeId":"\\ud800"}',
]


@pytest.mark.parametrize("body", LONE_SURROGATE_BODIES)
async def test_lone_surrogates_are_a_clean_400(  # type: ignore[no-untyped-def]
    client, recorder: Recorder, auth_headers, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/engine", content=body, headers={**auth_headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert recorder.calls == []


async def test_lone_surrogate_in_email_is_a_clean_400(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/user/signup",
        content=b'{"email": "\\ud800a@b.co"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("email", [".a@b.co", "a..b@c.co", "a@-b.co", "a@b_c.co"])
async def test_emails_the_grpc_rule_refuses_are_refused_here(client, recorder, email) -> None:
    """The facade applies gateway_svc.validation.email itself: no round trip to learn it."""
    response = await client.post("/api/v1/user/signup", json={"email": email})
    assert response.status_code == 400
    assert response.json()["field"] == "email"
    assert recorder.calls == []
