"""Sign-in flow (cookie, redirect, logout) and the operator endpoints and page."""

from __future__ import annotations

import dataclasses
import re

import grpc
import httpx
import pytest
from exchange.v1 import auth_service_pb2, prices_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.rest import create_app
from tests.rest.conftest import FRONTEND_URL, FakeError, Recorder, dec, session_token


async def test_signup_and_signin_request_links(client, recorder: Recorder) -> None:
    recorder.replies["RequestSignInLink"] = auth_service_pb2.RequestSignInLinkResponse(
        message="whatever the server says"
    )
    for body, message in (({}, "email is required"), ({"email": 5}, "email must be a string")):
        refused = await client.post("/api/v1/user/signup", json=body)
        assert refused.status_code == 400
        assert (refused.json()["error"], refused.json()["field"]) == (message, "email")
    signup = await client.post("/api/v1/user/signup", json={"email": "new@b.co"})
    signin = await client.post("/api/v1/user/signin", json={"email": "old@b.co"})

    assert signup.status_code == signin.status_code == 200
    assert signup.json() == signin.json() == {"message": "successfully sent email"}
    (_, first, meta), (_, second, _) = recorder.calls
    assert (first.email, first.signup) == ("new@b.co", True)
    assert (second.email, second.signup) == ("old@b.co", False)
    assert "x-forwarded-for" in meta


async def test_signin_post_sets_cookie_and_redirects(client, recorder) -> None:
    recorder.replies["CompleteSignIn"] = auth_service_pb2.CompleteSignInResponse(
        session_token="jwt.session.token",
        user_id="u-1",
        email="a@b.co",
        new_user=True,
        expires_in_s=604800,
    )
    response = await client.get("/api/v1/user/signin/post", params={"token": "email.link.jwt"})

    assert response.status_code in (302, 303)
    assert response.headers["location"] == FRONTEND_URL
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("authToken=jwt.session.token;")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "max-age=604800" in lowered
    assert "path=/" in lowered
    assert "secure" not in lowered  # development
    assert recorder.calls[-1][1].token == "email.link.jwt"


async def test_cookie_is_secure_in_production(settings, grpc_port, recorder) -> None:
    recorder.replies["CompleteSignIn"] = auth_service_pb2.CompleteSignInResponse(
        session_token="s.t.u"
    )
    production = dataclasses.replace(settings, env="production")
    app = create_app(production, lambda: grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/api/v1/user/signin/post", params={"token": "x"})
            docs = [(await client.get(path)).status_code for path in ("/docs", "/redoc")]
            spec = await client.get("/openapi.json")
    assert "secure" in response.headers["set-cookie"].lower()
    # The interactive docs load their scripts from a CDN into this origin: not in production.
    assert docs == [404, 404] and spec.status_code == 200


async def test_every_answer_is_nosniff_and_the_apis_are_never_stored(client, recorder) -> None:
    recorder.replies["GetPrice"] = xs.GetPriceResponse(
        tick=prices_pb2.PriceTick(asset="SOL_USDC", bid=dec(1, 6), ask=dec(2, 6))
    )
    answers = {
        "price": await client.get("/api/v1/price", params={"asset": "SOL_USDC"}),
        "refusal": await client.get("/api/v1/trades/open"),  # 401: no session
        "unknown": await client.get("/api/v1/nothing-here"),
        "metrics": await client.get("/metrics"),
        "page": await client.get("/"),
    }
    for name, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", name
    for name in ("price", "refusal", "unknown"):
        assert answers[name].headers["cache-control"] == "no-store", name
    assert answers["page"].headers["cache-control"] == "no-cache"  # its own, kept
    if answers["page"].status_code == 200:
        policy = answers["page"].headers["content-security-policy"]
        assert "connect-src 'self';" in policy and "ws:" not in policy
        assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answers["page"].headers["referrer-policy"] == "same-origin"


async def test_signin_post_with_bad_link_is_401(client, recorder) -> None:
    recorder.replies["CompleteSignIn"] = FakeError(
        grpc.StatusCode.UNAUTHENTICATED, "ERROR_CODE_UNAUTHENTICATED", "link expired or used"
    )
    response = await client.get("/api/v1/user/signin/post", params={"token": "old.link.jwt"})

    assert response.status_code == 401
    assert response.json()["error"] == "link expired or used"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (FakeError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", "used"), "UNAUTHENTICATED"),
        (FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", "slow"), "RATE_LIMITED"),
    ],
)
async def test_a_refused_link_sends_a_browser_back_to_the_page_saying_why(
    client, recorder, error: FakeError, code: str
) -> None:
    recorder.replies["CompleteSignIn"] = error
    response = await client.get(
        "/api/v1/user/signin/post",
        params={"token": "used.link.jwt"},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )

    assert response.status_code == 302
    assert response.headers["location"] == f"{FRONTEND_URL}#signin-error={code}"
    assert response.headers["vary"] == "Accept"
    assert "set-cookie" not in response.headers


async def test_signin_post_without_token_is_400(client, recorder) -> None:
    response = await client.get("/api/v1/user/signin/post")
    assert response.status_code == 400
    assert response.json()["field"] == "token"
    assert recorder.calls == []


async def test_logout_revokes_and_clears_cookie(client, recorder) -> None:
    token = session_token()
    client.cookies.set("authToken", token)
    response = await client.post("/api/v1/user/logout")

    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("authtoken=")
    assert "max-age=0" in cookie
    assert recorder.names() == ["SignOut"]
    assert recorder.calls[0][2]["authorization"] == f"Bearer {token}"


async def test_logout_without_session_still_clears(client, recorder) -> None:
    response = await client.post("/api/v1/user/logout")
    assert response.status_code == 200
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert recorder.calls == []


SIGN_OUT_FAILED = "sign-out could not be recorded, so the session is still valid: try again"


async def test_logout_fails_closed_and_keeps_the_cookie(client, recorder) -> None:
    """Issue 14: a revocation that was not stored is an error, not "signed out"."""
    recorder.replies["SignOut"] = FakeError(
        grpc.StatusCode.UNAVAILABLE, "ENGINE_UNAVAILABLE", SIGN_OUT_FAILED
    )
    client.cookies.set("authToken", session_token())
    response = await client.post("/api/v1/user/logout")

    assert response.status_code == 503
    assert response.json()["success"] is False
    assert response.json()["error"] == SIGN_OUT_FAILED
    assert "set-cookie" not in response.headers  # the session still works: say so, keep it


async def test_logout_of_a_session_the_server_refuses_is_signed_out(client, recorder) -> None:
    recorder.replies["SignOut"] = FakeError(
        grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", "sign in again"
    )
    client.cookies.set("authToken", session_token())
    response = await client.post("/api/v1/user/logout")

    assert response.status_code == 200
    assert response.json() == {"message": "signed out"}
    assert "max-age=0" in response.headers["set-cookie"].lower()


async def test_logout_all_revokes_every_session(client, recorder) -> None:
    token = session_token()
    client.cookies.set("authToken", token)
    response = await client.post("/api/v1/user/logout/all")

    assert response.status_code == 200
    assert response.json() == {"message": "signed out everywhere"}
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert recorder.names() == ["SignOutEverywhere"]
    assert recorder.calls[0][2]["authorization"] == f"Bearer {token}"


async def test_logout_all_needs_a_session(client, recorder) -> None:
    response = await client.post("/api/v1/user/logout/all")
    assert response.status_code == 401
    assert recorder.calls == []


async def test_logout_all_fails_closed(client, recorder, auth_headers) -> None:
    recorder.replies["SignOutEverywhere"] = FakeError(
        grpc.StatusCode.UNAVAILABLE, "ENGINE_UNAVAILABLE", SIGN_OUT_FAILED
    )
    response = await client.post("/api/v1/user/logout/all", headers=auth_headers)
    assert response.status_code == 503
    assert response.json()["error"] == SIGN_OUT_FAILED
    assert "set-cookie" not in response.headers


async def test_healthz_ok(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_503_when_grpc_is_down(settings) -> None:
    app = create_app(settings, lambda: grpc.aio.insecure_channel("127.0.0.1:1"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_metrics_count_requests_per_route_and_status(client) -> None:
    await client.get("/api/v1/supportedAssets")
    await client.get("/api/v1/price", params={"asset": "NOPE"})
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'http_requests_total{method="GET",route="/api/v1/supportedAssets",status="200"} 1.0' in text
    )
    assert 'http_requests_total{method="GET",route="/api/v1/price",status="400"} 1.0' in text
    assert "http_request_duration_seconds_bucket{" in text


async def test_docs_and_openapi(client) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/supportedAssets",
        "/api/v1/price",
        "/api/v1/candles",
        "/api/v1/user/signup",
        "/api/v1/user/signin",
        "/api/v1/user/signin/post",
        "/api/v1/user/logout",
        "/api/v1/user/logout/all",
        "/api/v1/engine",
        "/api/v1/trades/open",
        "/api/v1/trades/pending",
        "/api/v1/trades/closed",
        "/api/v1/orders",
        "/api/v1/account",
        "/healthz",
        "/metrics",
    ):
        assert path in paths, path
    engine = paths["/api/v1/engine"]["post"]
    assert engine["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/EngineRequest"
    )
    components = schema["components"]["schemas"]
    assert set(components["EngineRequest"]["discriminator"]["mapping"]) == {
        "CREATE_ACCOUNT",
        "GET_USD_BALANCE",
        "GET_BALANCE",
        "CREATE_TRADE",
        "CLOSE_TRADE",
        "PLACE_ORDER",
        "CANCEL_ORDER",
        "MODIFY_TRADE",
    }
    assert components["CreateTradeCommand"]["additionalProperties"] is False
    assert "422" not in engine["responses"]
    assert {"400", "401", "404", "503", "504"} <= set(engine["responses"])


async def test_index_page_and_static_files(client) -> None:
    from gateway_svc.rest.app import STATIC_DIR

    page = await client.get("/")
    if not (STATIC_DIR / "index.html").is_file():
        # An unbuilt checkout (pytest without `make web`): the API works, / says what to do.
        assert page.status_code == 503 and "make web" in page.text
        return
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'src="(/static/[^"]+\.js)"', page.text)
    assert scripts, page.text
    script = await client.get(scripts[0])
    assert script.status_code == 200
    assert "/api/v1/engine" in script.text


async def test_unknown_route_is_an_envelope(client) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["success"] is False
    wrong_method = await client.get("/api/v1/engine")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["success"] is False
