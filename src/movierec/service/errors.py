"""One place that turns every failure into ``{"error": {"code", "message"}}`` with the right status.

=====================================  ======  ===================
Cause                                  Status  code
=====================================  ======  ===================
unknown user / movie id                404     unknown_user / unknown_movie / unknown_id
malformed query, path or body          422     invalid_request
input the model rejects (scale, dup)   422     invalid_input
body over ``MAX_BODY_BYTES``           413     payload_too_large
missing or wrong admin / user token    401     unauthorized (``WWW-Authenticate: Bearer``)
another user's token                   403     forbidden
too many writes (``ratelimit``)        429     rate_limited (``Retry-After``)
no model loaded                        503     no_model
database busy (lock or pool wait)      503     database_busy (``Retry-After: 1``)
database unreachable                   503     database_unavailable (``Retry-After: 5``)
worker at capacity (``protect``)       503     overloaded (``Retry-After: 1``)
method the path does not take          405     method_not_allowed (``Allow``: every method of the path)
anything else                          500     internal_error (details only in the log)
=====================================  ======  ===================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from movierec.errors import ArtifactError, DatabaseError, DataValidationError, NotFittedError, UnknownIdError
from movierec.service.schemas import ErrorBody

log = logging.getLogger("movierec.service")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error with its HTTP status and stable code, raised by routes."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        part = f"{where}: {err.get('msg', 'invalid')}"
        if part not in parts:  # a path parameter checked by the route and its access dependency: said once
            parts.append(part)
    return "; ".join(parts[:5]) or "invalid request"


def _content_type_hint(request: Request, exc: RequestValidationError) -> str:
    """How to send the body, when a body check failed and the request did not say it sent JSON.

    Without ``Content-Type: application/json`` (``curl -d`` sends a form type) the body is not read as
    JSON, and the checks' own words ("Input should be a valid dictionary") do not say why.
    """
    ctype = request.headers.get("content-type", "")
    if "json" in ctype.lower() or not any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors()):
        return ""
    got = f"Content-Type {ctype!r}" if ctype else "no Content-Type"
    return f" (the request has {got}: send the body as JSON with the header Content-Type: application/json)"


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc) + _content_type_hint(request, exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 400:  # body that is not JSON at all: still the client's input
            status = 422
        headers = getattr(exc, "headers", None)
        if status == 405:
            allow = allowed_methods(request, (headers or {}).get("Allow", ""))
            headers = {**(headers or {}), "Allow": ", ".join(allow)}
            message = f"{request.method} is not allowed here; use {' or '.join(allow)}"
            return error_response(405, "method_not_allowed", message, headers)
        return error_response(status, _CODES.get(status, "error"), str(exc.detail), headers)

    @app.exception_handler(UnknownIdError)
    async def _unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return error_response(404, "unknown_id", str(exc))

    @app.exception_handler(DataValidationError)
    async def _bad(_: Request, exc: DataValidationError) -> JSONResponse:
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(ArtifactError)
    @app.exception_handler(NotFittedError)
    async def _no_model(_: Request, exc: Exception) -> JSONResponse:
        return error_response(503, "no_model", str(exc))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DatabaseError)
    @app.exception_handler(PoolTimeoutError)
    async def _db(_: Request, exc: Exception) -> JSONResponse:
        return database_error(exc)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; the service log has the details")


def allowed_methods(request: Request, default: str = "") -> list[str]:
    """Every method the API documents at this path (Starlette's 405 names only the first matching route's).

    Read from the OpenAPI paths (so it is what the schema says); paths outside the schema (the web
    page, Swagger UI) keep Starlette's ``default`` list.
    """
    import re

    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {m.upper() for m in operations}
    return sorted(methods) or [m.strip() for m in default.split(",") if m.strip()]


BUSY_MARKERS = ("database is locked", "database is busy", "lock timeout", "could not obtain lock", "deadlock detected")
"""Driver messages of a database that answered but could not take the write in time (SQLite, PostgreSQL)."""


def database_error(exc: Exception) -> JSONResponse:
    """503 for a database failure, saying which: busy (retry in a second) or unreachable (retry in a few).

    A write that waited past SQLite's busy timeout (``store.db``: 10 s) or for a free pooled connection
    is *busy*; anything else that stops the database answering is *unavailable*. Nothing was stored in
    either case, so retrying the same call is safe.
    """
    text = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, PoolTimeoutError) or any(m in text for m in BUSY_MARKERS):
        log.warning("database busy: %s", " ".join(str(exc).split())[:300])
        return error_response(
            503, "database_busy", "the ratings database is busy (a write waited too long for its lock); "
            "nothing was stored, retry in a second", {"Retry-After": "1"},
        )  # fmt: skip
    log.error("database error: %s", exc)
    return error_response(
        503, "database_unavailable",
        "the ratings database is not reachable; nothing was stored, retry in a few seconds", {"Retry-After": "5"},
    )  # fmt: skip


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries with the error body for each status."""
    return {s: {"model": ErrorBody, "description": _CODES.get(s, "error").replace("_", " ")} for s in statuses}
