"""ASGI middlewares that protect the service and its page: load shedding, one value per query parameter,
security headers.

**Load shedding.** A worker process answers at most ``max_in_flight`` requests at a time (read
and not yet answered: running, waiting for a thread, or waiting for the event loop). One more gets
an immediate ``503 overloaded`` with ``Retry-After: 1`` instead of joining a queue it would leave
only by the client's timeout. ``/v1/health`` and ``/v1/metrics`` are never shed (monitoring must
see an overload). The count is the number of the event loop's pending tasks: Uvicorn starts one
task per request as soon as its headers are read, so requests still waiting for the loop (an
``async`` route computing in it) count too, which a counter kept between entry and exit would miss.

**One value per query parameter.** ``k=abc&k=3`` is a 422 naming ``k``: FastAPI silently takes the
last value of a repeated scalar parameter. Checked here, on the raw query string, rather than in a
FastAPI dependency (one more dependency solved per request cost more than the check).

**Security headers** on every answer: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
no-referrer``, ``X-Frame-Options: DENY`` and a ``Content-Security-Policy`` that allows the page's
own scripts, styles and API calls only (``frame-ancestors 'none'``; Swagger UI's inline start-up
script is allowed by its hash on ``/docs`` only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]

NEVER_SHED = frozenset({"/v1/health", "/v1/metrics"})
RETRY_AFTER_S = 1


class LoadShedMiddleware:
    """503 ``overloaded`` (``Retry-After``) once a worker holds ``max_in_flight`` requests."""

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app, self.max_in_flight = app, max_in_flight
        self.shed = 0  # requests refused since start (a metric)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in NEVER_SHED and self._full():
            from movierec.service.errors import error_response

            self.shed += 1
            response = error_response(
                503, "overloaded", f"the service is at capacity ({self.max_in_flight} requests in progress in this "
                f"worker); nothing was done, retry after {RETRY_AFTER_S} s",
                {"Retry-After": str(RETRY_AFTER_S)},
            )  # fmt: skip
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _full(self) -> bool:
        # This request's own task counts, as do the server's two or three long-lived ones: a small,
        # fixed slack on a bound that is a capacity figure, not an exact count.
        return len(asyncio.all_tasks()) > self.max_in_flight


class QueryOnceMiddleware:
    """422 ``invalid_request`` when a query parameter is given more than once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"&" in query:
            from urllib.parse import parse_qsl

            names = [k for k, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
            repeated = sorted({k for k in names if names.count(k) > 1})
            if repeated:
                from movierec.service.errors import error_response

                message = (f"query parameter {repeated[0]!r} is given {names.count(repeated[0])} times; "
                           "give each parameter once")  # fmt: skip
                await error_response(422, "invalid_request", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeadersMiddleware:
    """Adds the security headers above to every HTTP answer (``csp`` by path prefix, longest first)."""

    def __init__(self, app: ASGIApp, csp: dict[str, str]) -> None:
        self.app = app
        self.csp = sorted(((p, v.encode()) for p, v in csp.items()), key=lambda pv: -len(pv[0]))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = next((v for p, v in self.csp if scope["path"].startswith(p)), None)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if csp is not None and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
