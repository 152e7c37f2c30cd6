"""`create_app`: the REST/JSON facade, wired.

Everything here is plumbing: routers, the error handlers that put every failure in the
envelope, middleware, the OpenAPI document, and the web page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import Scope

from gateway_svc.errors import ApiError
from gateway_svc.rest import ops, routes_engine, routes_public, routes_reads, routes_user, ws
from gateway_svc.rest.clients import ChannelFactory, GrpcClients
from gateway_svc.rest.envelope import RestError, error_response
from gateway_svc.rest.middleware import (
    BodyLimitMiddleware,
    CorsWhenOrigin,
    HttpMetrics,
    MetricsMiddleware,
    SecurityHeaders,
)
from gateway_svc.rest.origin import WriteGuardMiddleware, trusted_origins
from gateway_svc.rest.schemas import extra_components
from gateway_svc.rest.ws_limits import ConnectionSlots
from mesh.config import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The page loads only its own files and talks only to this origin ('self' covers its own
# WebSocket too), posts no form anywhere, and sends no Referer beyond it.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}
PAGE_NOT_BUILT = "The web page is not built: run `make web` (or `make run`) in the checkout.\n"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 for query parameters, as a 400 envelope naming the parameter."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("query", "body")]
    field = ".".join(location) or "request"
    name = "UNKNOWN_ASSET" if field == "asset" else "INVALID_ARGUMENT"
    if first.get("type") == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}"
    return error_response(request, RestError(name, message, field=field))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (404 no such path, 405 wrong method) in the same envelope."""
    assert isinstance(exc, StarletteHTTPException)
    name = "INTERNAL" if exc.status_code >= 500 else "INVALID_ARGUMENT"
    response = error_response(
        request, RestError(name, str(exc.detail), http_status=exc.status_code)
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


class _PlainRoute(Route):
    """A Starlette route that names itself in the scope, as FastAPI's do, so the metrics label
    its requests by route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.FULL:
            child_scope["route"] = self
        return match, child_scope


# Either one authenticates (SPEC section 3).
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "authToken"},
}
AUTHENTICATED_PATHS = (
    "/api/v1/engine",
    "/api/v1/trades/open",
    "/api/v1/trades/pending",
    "/api/v1/trades/closed",
    "/api/v1/orders",
    "/api/v1/account",
    "/api/v1/user/logout/all",
)
SIGNED_IN_OR_NOT_PATHS = ("/api/v1/user/logout",)
"""Its session is revoked when it has one; without one it answers all the same (signed out)."""


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(extra_components())
    # Validation failures are 400 envelopes here, never FastAPI's 422.
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    for path in (*AUTHENTICATED_PATHS, *SIGNED_IN_OR_NOT_PATHS):
        for operation in schema["paths"].get(path, {}).values():
            operation["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
            if path in SIGNED_IN_OR_NOT_PATHS:
                operation["security"].append({})  # OpenAPI's "or none"
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings, channel_factory: ChannelFactory | None = None) -> FastAPI:
    """The facade. `channel_factory` returns a grpc.aio channel (default: an insecure channel
    to `settings.grpc_target`); it is opened at startup or first use and closed at shutdown."""
    clients = GrpcClients(settings.grpc_target, channel_factory, settings.engine_timeout_ms)
    metrics = HttpMetrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        clients.open()
        try:
            yield
        finally:
            await clients.close()

    app = FastAPI(
        title="CFD exchange",
        version="1.0.0",
        description="REST/JSON facade of the exchange gateway (SPEC section 3).",
        lifespan=lifespan,
        # No OpenTelemetry here (the metrics are Prometheus's, on /metrics): left on, FastAPI
        # asks OpenTelemetry for its three global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # The interactive docs load Swagger UI and ReDoc from a CDN into the cookie's origin:
        # a development aid, off in production (/openapi.json stays).
        docs_url=None if settings.production else "/docs",
        redoc_url=None if settings.production else "/redoc",
    )
    app.state.settings = settings
    app.state.clients = clients
    app.state.metrics = metrics
    app.state.ws_slots = ConnectionSlots(
        settings.ws_max_connections_per_ip, settings.ws_max_connections
    )

    for router in (
        routes_public.router,
        routes_user.router,
        routes_engine.router,
        routes_reads.router,
        ops.router,
        ws.router,
    ):
        app.include_router(router)
    # The hot endpoint also as a plain Starlette route, ahead of FastAPI's (which stays, for
    # the OpenAPI document and the 405 on other methods). It reads its own body and returns its
    # own Response, so FastAPI's per-request dependency solving and exit stack bought only CPU.
    app.router.routes.insert(
        0,
        _PlainRoute(
            "/api/v1/engine", routes_engine.engine, methods=["POST"], include_in_schema=False
        ),
    )
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    # Added innermost first: metrics see everything, including the 413s of the size limit.
    # JSON-only writes, and no cookie writes from other pages (origin.py): inside the size
    # limit (an oversize body is 413 whatever its type) and inside CORS, so a refusal to an
    # allowed origin still carries the headers its page needs to read it.
    app.add_middleware(WriteGuardMiddleware, settings=settings)
    app.add_middleware(BodyLimitMiddleware, limit=settings.http_max_body_bytes)
    app.add_middleware(
        CorsWhenOrigin,
        allow_origins=list(trusted_origins(settings)),
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    # The terminal is built from web/ into STATIC_DIR by `make web` (run and test do it); an
    # unbuilt checkout still serves the API, and / says how to build the page.
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            return PlainTextResponse(PAGE_NOT_BUILT, status_code=503, headers=PAGE_HEADERS)
        return FileResponse(page, headers=PAGE_HEADERS)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
