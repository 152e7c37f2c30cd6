"""Unicode and very long strings in every free-form field: a 400 naming the field, and no gRPC
call. Look-alike letters, other scripts' digits, zero-width and bidi characters, controls and
strings far past any real value."""

from __future__ import annotations

import json

import pytest

from tests.rest.conftest import Recorder

UUID = "3f2b8c9a-5d1e-4f7a-b6c3-9e8d7a6b5c4d"
FULLWIDTH_UUID = UUID.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
ARABIC_UUID = UUID.translate({ord(d): 0x0660 + int(d) for d in "0123456789"})  # Arabic-Indic digits
LONG = "x" * 10_000

ENGINE_CASES = [
    # tradeId: a UUID in its 36-character ASCII form, nothing else
    ({"command": "CLOSE_TRADE", "tradeId": FULLWIDTH_UUID}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": ARABIC_UUID}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": "{" + UUID + "}"}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": UUID.replace("-", "")}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": UUID + "\n"}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": "\u202e" + UUID}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": "t-1"}, "tradeId"),
    ({"command": "CLOSE_TRADE", "tradeId": LONG}, "tradeId"),
    # orderId: the same rule
    ({"command": "GET_BALANCE", "orderId": FULLWIDTH_UUID}, "orderId"),
    ({"command": "GET_BALANCE", "orderId": "urn:uuid:" + UUID}, "orderId"),
    ({"command": "GET_BALANCE", "orderId": UUID[:-1] + "\u200b"}, "orderId"),
    ({"command": "GET_BALANCE", "orderId": LONG}, "orderId"),
    # asset: one of three exact strings
    (
        {
            "command": "CREATE_TRADE",
            "asset": "\uff33\uff2f\uff2c_USDC",
            "direction": "LONG",
            "margin": 1,
        },
        "asset",
    ),
    (
        {"command": "CREATE_TRADE", "asset": "SOL_USDC\u0000", "direction": "LONG", "margin": 1},
        "asset",
    ),
    (
        {"command": "CREATE_TRADE", "asset": "SOL_USDC" + LONG, "direction": "LONG", "margin": 1},
        "asset",
    ),
    # direction and command: exact strings as well
    (
        {
            "command": "CREATE_TRADE",
            "asset": "SOL_USDC",
            "direction": "\uff2c\uff2f\uff2e\uff27",
            "margin": 1,
        },
        "direction",
    ),
    ({"command": "GET_BALANCE\u200b"}, "command"),
    ({"command": LONG}, "command"),
]


@pytest.mark.parametrize(("body", "field"), ENGINE_CASES)
async def test_odd_engine_fields_are_400_naming_the_field(
    client, recorder: Recorder, auth_headers, body, field
) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    response = await client.post(
        "/api/v1/engine", content=raw, headers={**auth_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["field"] == field
    assert envelope["error"].startswith(field)
    assert len(envelope["error"]) < 200  # the message never echoes a long input back
    assert recorder.calls == []


async def test_a_long_unknown_key_is_named_but_cut(client, recorder, auth_headers) -> None:
    body = {"command": "GET_BALANCE", "ключ" * 2000: 1}
    response = await client.post("/api/v1/engine", json=body, headers=auth_headers)
    assert response.status_code == 400
    assert response.json()["field"] == ("ключ" * 10)[:40] + "..."
    assert recorder.calls == []


@pytest.mark.parametrize(
    "email",
    [
        "é@example.com",
        "\uff41@example.com",  # fullwidth a
        "a\u200b@example.com",  # zero-width space
        "a@example.com\u202e",  # right-to-left override
        "a@ex\u0430mple.com",  # Cyrillic a
        "a\u0000@example.com",
        "a\uff20example.com",  # fullwidth @
        "a" * 250 + "@b.co",
        "a@" + "b" * 10_000 + ".co",
    ],
)
async def test_odd_emails_are_400_naming_email(client, recorder: Recorder, email: str) -> None:
    for path in ("/api/v1/user/signup", "/api/v1/user/signin"):
        raw = json.dumps({"email": email}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        response = await client.post(path, content=raw, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "email"
        assert len(response.json()["error"]) < 200
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/orders?cursor=" + "é" * 10, "cursor"),
        ("/api/v1/trades/closed?cursor=a%00b", "cursor"),
        ("/api/v1/trades/closed?cursor=" + "A" * 600, "cursor"),
        ("/api/v1/price?asset=\uff33\uff2f\uff2c_USDC", "asset"),
        ("/api/v1/candles?asset=SOL_USDC&interval=\uff11m", "interval"),
        ("/api/v1/user/signin/post?token=" + "é.b.c", "token"),
        ("/api/v1/user/signin/post?token=" + "a" * 5000, "token"),
    ],
)
async def test_odd_query_parameters_are_400(client, recorder, auth_headers, path, field) -> None:
    response = await client.get(path, headers=auth_headers)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert recorder.calls == []
