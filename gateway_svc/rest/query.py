"""The query string's one rule beyond each parameter's own: no parameter twice.

`?asset=SOL_USDC&asset=BTC_USDC` would silently answer for the last one (FastAPI keeps it),
where a JSON body's repeated key is refused (jsonio): a client that sends two values should
hear about it rather than have one picked for it. Every router with query parameters takes
this as a dependency.
"""

from __future__ import annotations

from fastapi import Request

from gateway_svc.rest.jsonio import RepeatedKey


def unique_query_keys(request: Request) -> None:
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in seen:
            raise RepeatedKey(key)
        seen.add(key)
