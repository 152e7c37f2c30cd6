"""E-mail-link sign-in: request a link, complete it (cookie + redirect), sign out (this
session, or every session of the user)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from exchange.v1 import auth_service_pb2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from gateway_svc.errors import ApiError
from gateway_svc.rest import schemas
from gateway_svc.rest.auth import (
    COOKIE_NAME,
    SESSION_MAX_AGE_S,
    auth_metadata,
    check_token,
    require_token,
    token_from,
)
from gateway_svc.rest.commands import parse_email
from gateway_svc.rest.envelope import RestError
from gateway_svc.rest.jsonio import DecimalJSONResponse, parse_json
from gateway_svc.rest.query import unique_query_keys
from gateway_svc.rest.routes_public import grpc_clients
from mesh.config import Settings

log = logging.getLogger(__name__)
router = APIRouter(
    prefix="/api/v1/user", tags=["accounts"], dependencies=[Depends(unique_query_keys)]
)

SENT_MESSAGE = "successfully sent email"
SIGN_OUT_FAILED = "sign-out could not be recorded, so the session is still valid: try again"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def client_metadata(request: Request) -> tuple[tuple[str, str], ...]:
    """The caller's address, so the gRPC server can rate-limit link requests per client."""
    return (("x-forwarded-for", request.client.host),) if request.client else ()


async def _request_link(request: Request, signup: bool) -> DecimalJSONResponse:
    email = parse_email(parse_json(await request.body()))
    clients = grpc_clients(request)
    await clients.call(
        clients.auth.RequestSignInLink,
        auth_service_pb2.RequestSignInLinkRequest(email=email, signup=signup),
        client_metadata(request),
    )
    # The answer is the same whether or not the address is known (no account probing).
    return DecimalJSONResponse({"message": SENT_MESSAGE})


_LINK_DOC: dict[str, Any] = {
    "response_model": schemas.Message,
    "responses": schemas.ERROR_RESPONSES,
    "openapi_extra": schemas.request_body("EmailRequest"),
}


@router.post("/signup", summary="Mail a sign-in link to a new user", **_LINK_DOC)
async def signup(request: Request) -> DecimalJSONResponse:
    return await _request_link(request, signup=True)


@router.post("/signin", summary="Mail a sign-in link to a returning user", **_LINK_DOC)
async def signin(request: Request) -> DecimalJSONResponse:
    return await _request_link(request, signup=False)


def _set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=SESSION_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.production,
    )


@router.get(
    "/signin/post",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "signed in: cookie set, redirect to FRONTEND_URL; a browser (Accept: "
            "text/html) whose link is refused goes to FRONTEND_URL#signin-error=<code> instead "
            "of the JSON error"
        },
        **schemas.ERROR_RESPONSES,
    },
    summary="The link in the e-mail: sets the authToken cookie and redirects",
)
async def signin_post(
    request: Request,
    # A JWT: three base64url segments. Anything else cannot be a link we sent.
    token: Annotated[str, Query(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_.-]+$")],
) -> Response:
    clients = grpc_clients(request)
    settings = _settings(request)
    try:
        reply = await clients.call(
            clients.auth.CompleteSignIn,
            auth_service_pb2.CompleteSignInRequest(token=token),
            client_metadata(request),
        )
    except RestError as error:
        if not _from_a_browser(request):
            raise
        # A person who clicked a used or expired link lands on the page, which says why by
        # the code (its own words: nothing from the URL is shown), not on a JSON error.
        log.info("sign-in link refused: %s %s", error.spec.name, error.message)
        page = settings.frontend_url.split("#", 1)[0]
        refused = RedirectResponse(f"{page}#signin-error={error.spec.name}", status_code=302)
        refused.headers["Vary"] = "Accept"
        return refused
    response = RedirectResponse(settings.frontend_url, status_code=302)
    response.headers["Vary"] = "Accept"  # a refusal depends on it
    _set_session_cookie(response, reply.session_token, settings)
    return response


def _from_a_browser(request: Request) -> bool:
    """A browser following the mailed link asks for a page; an API client asks for JSON."""
    return "text/html" in request.headers.get("accept", "")


def _not_signed_out(err: RestError) -> RestError:
    """The failure keeps its status (503 when the revocation could not be stored) but says
    what it means for the user, whatever the registry's generic message is."""
    log.warning("logout: session not revoked: %s %s", err.spec.name, err.message)
    return RestError(err.spec.name, SIGN_OUT_FAILED, retry_after_s=err.retry_after_s)


def _signed_out(message: str, settings: Settings) -> DecimalJSONResponse:
    response = DecimalJSONResponse({"message": message})
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=settings.production
    )
    return response


@router.post(
    "/logout",
    response_model=schemas.Message,
    responses=schemas.ERROR_RESPONSES,
    summary="Revoke the session and clear the cookie",
)
async def logout(request: Request) -> DecimalJSONResponse:
    """Fails closed: when the revocation cannot be stored the answer is an error and the
    cookie stays, so the user knows the session still works and can try again."""
    settings = _settings(request)
    token = token_from(request)
    if token:
        try:
            check_token(token, settings)
        except ApiError:
            return _signed_out("signed out", settings)  # never valid: nothing to revoke
        clients = grpc_clients(request)
        try:
            await clients.call(
                clients.auth.SignOut, auth_service_pb2.SignOutRequest(), auth_metadata(token)
            )
        except RestError as err:
            if err.spec.name != "UNAUTHENTICATED":
                raise _not_signed_out(err) from None
            # Expired or revoked already: a session the server refuses is signed out.
    return _signed_out("signed out", settings)


@router.post(
    "/logout/all",
    response_model=schemas.Message,
    responses=schemas.ERROR_RESPONSES,
    summary="Revoke every session of the caller issued until now, on every device",
)
async def logout_all(request: Request) -> DecimalJSONResponse:
    settings = _settings(request)
    token = require_token(request, settings)
    clients = grpc_clients(request)
    try:
        await clients.call(
            clients.auth.SignOutEverywhere,
            auth_service_pb2.SignOutEverywhereRequest(),
            auth_metadata(token),
        )
    except RestError as err:
        if err.spec.name == "UNAUTHENTICATED":
            raise
        raise _not_signed_out(err) from None
    return _signed_out("signed out everywhere", settings)
