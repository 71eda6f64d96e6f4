"""Optional API key for the whole server (API, page and Gradio's own routes).

Scripts send `Authorization: Bearer KEY` or `X-API-Key: KEY`. A browser cannot add a
header to a page load, so opening any page once with `?api_key=KEY` stores the key in an
HttpOnly cookie and redirects to the same address without it. CORS preflight requests
(OPTIONS) carry no credentials by design and pass through to the CORS middleware.
"""

from __future__ import annotations

import hmac

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

COOKIE = "archive_qa_key"


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


class APIKeyMiddleware(BaseHTTPMiddleware):
    """401 `{"error": ...}` for every request without the right key."""

    def __init__(self, app, key: str) -> None:
        super().__init__(app)
        self._key = key.encode()

    def _ok(self, key: str | None) -> bool:
        return key is not None and hmac.compare_digest(key.encode(), self._key)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method == "OPTIONS":
            return await call_next(request)
        query_key = request.query_params.get("api_key")
        if query_key is not None and request.method == "GET":
            if not self._ok(query_key):
                return _denied()
            url = str(request.url.remove_query_params("api_key"))
            response = RedirectResponse(url, status_code=303)
            response.set_cookie(COOKIE, query_key, httponly=True, samesite="lax")
            return response
        if not self._ok(presented_key(request)):
            return _denied()
        return await call_next(request)


def _denied() -> JSONResponse:
    return JSONResponse(
        {"error": "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
