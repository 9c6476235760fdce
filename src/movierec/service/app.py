"""The FastAPI application factory.

``create_app(settings)`` builds one app: database engine (tables created when
``MOVIEREC_DB_INIT``), model holder (first load at start-up, then a polling
thread every ``MOVIEREC_RELOAD_INTERVAL`` seconds), error handlers, metrics,
body-size limit, optional CORS, the ``/v1`` routers, the web page at ``/`` and Swagger UI at
``/docs`` (served from a vendored copy, so it needs no internet).
Run it with ``movierec serve`` or ``uvicorn --factory movierec.service.app:create_app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, HTMLResponse

from movierec.service import errors, openapi
from movierec.service.auth import TokenCache
from movierec.service.exposures import ExposureLog
from movierec.service.metrics import BodyLimitMiddleware, Metrics, MetricsMiddleware
from movierec.service.protect import CSP, LoadShedMiddleware, QueryOnceMiddleware, SecurityHeadersMiddleware
from movierec.service.ratelimit import Limits
from movierec.service.routers import events, movies, ops, recommend, users
from movierec.service.settings import Settings
from movierec.service.state import ModelHolder
from movierec.store import db
from movierec.store.registry import Registry

log = logging.getLogger("movierec.service")

DESCRIPTION = """Personal film recommendations from explicit star ratings.

Errors always have the body `{"error": {"code": ..., "message": ...}}`: unknown ids 404,
malformed input 422 (a query parameter given twice included), bodies over the size limit 413,
admin routes without the token and a user's routes without their token 401, another user's token
403, too many writes 429 (with `Retry-After`), a method the path does not take 405 (with `Allow`),
no model loaded 503.

`POST /v1/users` answers a new id and its token, shown only once: send it as
`Authorization: Bearer <token>` on that user's routes. A 503 with `Retry-After` (`overloaded`,
`database_busy`, `database_unavailable`) or a 429 did nothing: retry after that many seconds.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new service app.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to ``Settings()`` read from the ``MOVIEREC_*`` environment variables.

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    DataValidationError
        If the database URL is unusable.
    """
    settings = settings or Settings()
    networked = not settings.database_url.startswith("sqlite")  # a SQLite file has no connection to lose
    engine = db.make_engine(settings.database_url, settings.db_busy_timeout, pool_pre_ping=networked)
    holder = ModelHolder(Registry(settings.registry) if settings.registry else None, engine)
    exposures = ExposureLog(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=settings.blas_threads, user_api="blas")  # for the whole process, on purpose
        _log_like_uvicorn()
        if settings.db_init:
            db.init_db(engine)  # refuses another schema version (an older one names `movierec db upgrade`)
        else:
            db.ping(engine)
        holder.check()
        holder.start(settings.reload_interval)
        exposures.start()
        try:
            yield
        finally:
            holder.stop()
            exposures.stop()  # writes what is still queued
            engine.dispose()

    from movierec import __version__

    app = FastAPI(title="movierec", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None)
    app.state.settings, app.state.engine, app.state.holder = settings, engine, holder
    app.state.exposures = exposures
    app.state.metrics = Metrics(holder, exposures)
    app.state.token_cache = TokenCache()
    app.state.limits = Limits(settings.rate_writes_per_min, settings.rate_signups_per_min, settings.rate_burst)
    errors.install(app)
    openapi.install(app, holder)
    for router in (movies.router, users.router, recommend.router, events.router, ops.router):
        app.include_router(router)

    static = resources.files("movierec.service") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    swagger = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title="movierec API",
        swagger_js_url="/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger/swagger-ui.css",
        swagger_favicon_url="/static/swagger/favicon-32x32.png",
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the vendored copy in ``static/swagger`` (works offline; FastAPI's default uses a CDN)."""
        return swagger

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "PUT", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(QueryOnceMiddleware)
    app.add_middleware(LoadShedMiddleware, max_in_flight=settings.max_in_flight)
    app.add_middleware(SecurityHeadersMiddleware, csp={"/": CSP, "/docs": _swagger_csp(bytes(swagger.body))})
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _log_like_uvicorn() -> None:
    """Send movierec's log records (model swaps, reload failures) to Uvicorn's handlers, at its level.

    Without this they reach no handler under ``movierec serve`` (Uvicorn configures only its own
    loggers) and only warnings show. Left alone when the process configured logging itself.
    """
    ours, server = logging.getLogger("movierec"), logging.getLogger("uvicorn")
    if ours.handlers or logging.getLogger().handlers or not server.handlers:
        return
    for handler in server.handlers:
        ours.addHandler(handler)
    ours.setLevel(server.getEffectiveLevel())
    ours.propagate = False


def _swagger_csp(page: bytes) -> str:
    """The page's policy, plus Swagger UI's one inline start-up script (by its hash) and inline styles."""
    import base64
    import hashlib
    import re

    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in re.finditer(rb"<script>(.*?)</script>", page, re.S)
    ]
    return CSP.replace("script-src 'self'", "script-src 'self' " + " ".join(hashes)).replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
