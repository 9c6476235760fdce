"""Prometheus metrics and the two ASGI middlewares (request metrics, body-size limit).

Metrics (one ``CollectorRegistry`` per app, text format at ``GET /v1/metrics``):

* ``movierec_http_requests_total{method,route,status}`` — counter;
* ``movierec_http_request_duration_seconds{method,route}`` — histogram of
  the time from the request's arrival to the last byte of the reply;
* ``movierec_model_info{version}`` — 1 for the served version;
* ``movierec_model_reloads_total`` — versions swapped in since start.
* ``movierec_model_reload_failing`` — 1 while the registry's current version failed to load.
* ``movierec_experiment_info{experiment,control,canary}`` — 1 while an A/B experiment serves a canary.
* ``movierec_exposures_logged_total{version}`` — recommendation lists written to the database;
* ``movierec_exposures_dropped_total{version,reason}`` — lists not logged (``queue_full``: the
  queue was full; ``write_failed``: the database refused the batch);
* ``movierec_exposures_pending`` — lists queued, not yet written;
* ``movierec_online_exposures{version}``, ``movierec_online_hit_rate{version}``,
  ``movierec_online_mean_rating{version}``, ``movierec_online_coverage{version}`` — today's (UTC)
  online metrics per model version, as ``movierec outcomes`` computes them
  (``store.outcomes.daily_metrics``), recomputed at most every ``ONLINE_TTL_S`` seconds (a scrape
  in between reads the last figures: the query grows with the day's exposures).

``route`` is the route template (``/v1/users/{user_id}/ratings``), never the
raw path, so ids cannot blow up the number of series; unmatched paths are
``unmatched``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from movierec.errors import DatabaseError
from movierec.service.exposures import ExposureLog
from movierec.service.state import ModelHolder
from movierec.store import outcomes

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]

_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _ModelCollector(Collector):
    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def collect(self) -> Any:
        info = GaugeMetricFamily("movierec_model_info", "Served model version (value 1)", labels=["version"])
        snap = self.holder.current
        if snap is not None:
            info.add_metric([snap.version], 1.0)
        yield info
        yield CounterMetricFamily(
            "movierec_model_reloads", "Model versions swapped in since start", value=self.holder.reloads
        )
        yield GaugeMetricFamily(
            "movierec_model_reload_failing",
            "1 while the registry's current version failed to load (an older one, or none, is served)",
            value=1.0 if self.holder.last_error else 0.0,
        )


class _ExposureCollector(Collector):
    def __init__(self, holder: ModelHolder, exposures: ExposureLog) -> None:
        self.holder, self.exposures = holder, exposures

    def collect(self) -> Any:
        info = GaugeMetricFamily(
            "movierec_experiment_info", "Running A/B experiment (value 1)", labels=["experiment", "control", "canary"]
        )
        snap, canary = self.holder.current, self.holder.canary
        if canary is not None and snap is not None:
            info.add_metric([canary.experiment.id, snap.version, canary.snap.version], 1.0)
        yield info
        logged = CounterMetricFamily(
            "movierec_exposures_logged", "Recommendation lists written to the exposures table", labels=["version"]
        )
        for version, n in sorted(dict(self.exposures.logged).items()):
            logged.add_metric([version], n)
        yield logged
        dropped = CounterMetricFamily(
            "movierec_exposures_dropped", "Recommendation lists not logged", labels=["version", "reason"]
        )
        for (version, reason), n in sorted(dict(self.exposures.dropped).items()):
            dropped.add_metric([version, reason], n)
        yield dropped
        yield GaugeMetricFamily(
            "movierec_exposures_pending", "Recommendation lists queued, not yet written", value=self.exposures.pending()
        )


ONLINE_TTL_S = 60.0
"""Longest age of the online metrics a scrape reports, in seconds."""
_ONLINE = (
    ("exposures", "Recommendation lists shown today (UTC)"),
    ("hit_rate", "Share of today's lists to known users with a later attributed rating of a shown film"),
    ("mean_rating", "Mean rating of today's shown films that were rated"),
    ("coverage", "Distinct films shown today / catalogue"),
)


class _OnlineCollector(Collector):
    """Today's online metrics per version, cached for ``ttl_s`` (``/v1/metrics`` runs in the thread pool)."""

    def __init__(self, engine: Any, ttl_s: float = ONLINE_TTL_S) -> None:
        self.engine, self.ttl_s = engine, ttl_s
        self._rows: list[dict[str, Any]] = []
        self._at = -float("inf")

    def rows(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._at >= self.ttl_s:
            today = dt.datetime.now(dt.UTC).date()
            with contextlib.suppress(DatabaseError):  # the last figures stay; /v1/ready tells the database's state
                self._rows = [r for r in outcomes.daily_metrics(self.engine, today) if r["day"] == today.isoformat()]
            self._at = time.monotonic()
        return self._rows

    def collect(self) -> Any:
        rows = self.rows()
        for key, text in _ONLINE:
            family = GaugeMetricFamily(f"movierec_online_{key}", text, labels=["version"])
            for r in rows:
                if r[key] is not None:
                    family.add_metric([r["model_version"]], float(r[key]))
            yield family


class Metrics:
    """The app's metric objects."""

    def __init__(self, holder: ModelHolder, exposures: ExposureLog | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "movierec_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "movierec_http_request_duration_seconds",
            "Request latency in seconds",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ModelCollector(holder))
        if exposures is not None:
            self.registry.register(_ExposureCollector(holder, exposures))
            self.registry.register(_OnlineCollector(exposures.engine))


class MetricsMiddleware:
    """Counts requests and times them (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], label, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], label).observe(time.perf_counter() - t0)


class BodyLimitMiddleware:
    """Answers 413 to bodies over ``max_bytes`` (by Content-Length, or while a chunked body streams)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        seen = [0]

        async def limited_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_bytes:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, receive: Any, send: Any) -> None:
        from movierec.service.errors import error_response

        response = error_response(413, "payload_too_large", f"request body over {self.max_bytes} bytes")
        await response(scope, receive, send)
