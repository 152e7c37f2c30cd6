"""Writes from someone else's page: JSON-only bodies and an Origin check on cookie calls.

SameSite=Lax keeps the cookie off cross-site form posts, but not off a `fetch(...,
{credentials: "include", mode: "no-cors"})` from a sibling subdomain (same *site*), nor from any
`http://localhost:<port>` page in development. Such a request needs no CORS preflight as long
as its body is a "simple" type (text/plain, a form), so two rules close it:

- every write under /api/ (any method but GET, HEAD, OPTIONS) with a body declares
  `Content-Type: application/json`, which a page can only send cross-origin after a preflight
  that CORS refuses (415 otherwise);
- a write that the cookie would authenticate (no `Authorization: Bearer`) is refused (403)
  when the browser says it comes from elsewhere: an `Origin` that is not this facade's (its
  Host), FRONTEND_URL's, BACKEND_URL's or one listed in ALLOWED_ORIGINS; or, without an Origin,
  `Sec-Fetch-Site: cross-site` or `same-site`. A client that sends neither header (curl, SDKs)
  is not a browser and is not refused; a Bearer token is never sent by a browser on its own,
  so a Bearer call is not checked.

Raw ASGI, like the body limit: it sees the request before any route does, so a new write
endpoint is covered without remembering to add a check to it.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_svc.rest.auth import COOKIE_NAME
from gateway_svc.rest.envelope import STARTED_KEY, error_body
from gateway_svc.rest.jsonio import dumps
from mesh.config import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_MEDIA_TYPE = "application/json"
GUARDED_PREFIX = "/api/"
# What Sec-Fetch-Site says about a request from another page of the same site (a sibling
# subdomain, another port) or of another site: neither is this page.
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})

NOT_JSON = "request body must be JSON: send Content-Type: application/json"
FOREIGN_ORIGIN = (
    "cross-origin request refused: a page from another origin cannot act with your session "
    "cookie (send Authorization: Bearer, or add the origin to ALLOWED_ORIGINS)"
)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-case, as browsers write the Origin header."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def trusted_origins(settings: Settings) -> tuple[str, ...]:
    """The pages that may write with the cookie: the front end, the facade, ALLOWED_ORIGINS."""
    found = {origin_of(settings.frontend_url), origin_of(settings.backend_url)}
    found.update(settings.allowed_origins)
    return tuple(sorted(origin for origin in found if origin))


def is_json(content_type: str) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def _cookie_authenticated(headers: Headers) -> bool:
    """Whether the session would come from the cookie (rest.auth.token_from's order)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return False
    cookies = headers.get("cookie", "")
    return any(part.strip().startswith(f"{COOKIE_NAME}=") for part in cookies.split(";"))


def foreign_request(headers: Headers, trusted: frozenset[str]) -> bool:
    """Whether a browser says this request comes from a page that is not ours.

    `Origin`, when sent, decides: it names the page exactly, so an origin we trust (a front
    end on a sibling subdomain) passes even though Sec-Fetch-Site calls it same-site.
    Without it, Sec-Fetch-Site does. With neither, it is not a browser: not foreign."""
    origin = headers.get("origin")
    if origin is not None:
        origin = origin.strip().lower()
        if origin in trusted:
            return False
        # The facade's own page: the origin names the host the browser is talking to.
        host = headers.get("host", "").strip().lower()
        return not host or urlsplit(origin).netloc != host
    return headers.get("sec-fetch-site", "").strip().lower() in FOREIGN_FETCH_SITES


def refusal(scope: Scope, trusted: frozenset[str]) -> tuple[int, str] | None:
    """(HTTP status, message) if this request must be refused, else None."""
    if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
        return None
    if not scope["path"].startswith(GUARDED_PREFIX):
        return None
    headers = Headers(scope=scope)
    content_type = headers.get("content-type")
    if (content_type is not None and not is_json(content_type)) or (
        content_type is None and _has_body(headers)
    ):
        return 415, NOT_JSON
    if _cookie_authenticated(headers) and foreign_request(headers, trusted):
        return 403, FOREIGN_ORIGIN
    return None


class WriteGuardMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.trusted = frozenset(trusted_origins(settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = refusal(scope, self.trusted)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, message = refused
        started = scope.get(STARTED_KEY)
        latency = round((time.perf_counter() - started) * 1000, 3) if started else 0.0
        # INVALID_ARGUMENT: the registry's code for a request that is wrong as sent; the
        # status (403 / 415) says which rule it broke.
        body = dumps(error_body(message, "INVALID_ARGUMENT", str(uuid.uuid4()), latency))
        payload = body.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
