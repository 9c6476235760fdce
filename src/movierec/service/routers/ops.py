"""Operations: ``/v1/model``, ``/v1/admin/reload``, ``/v1/health``, ``/v1/ready``, ``/v1/metrics``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from movierec.service import schemas
from movierec.service.core import current_snapshot, require_admin, snapshot
from movierec.service.errors import ApiError, responses
from movierec.service.state import Snapshot, redact_paths

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get("/model", response_model=schemas.ModelInfo, responses=responses(503))
def model_info(request: Request, snap: Annotated[Snapshot, Depends(snapshot)]) -> schemas.ModelInfo:
    """The served model: version, config, metrics and training time."""
    m = snap.meta
    return schemas.ModelInfo(
        version=snap.version,
        model=m["model"],
        config=_redacted(m.get("config", {})),
        metrics=_redacted(_public_metrics(m.get("metrics", {}))),
        trained_at=m.get("created_at", ""),
        n_users=m["n_users"],
        n_items=m["n_items"],
        n_ratings=m["n_ratings"],
        data_fingerprint=m.get("data_fingerprint", ""),
        reload_error=request.app.state.holder.last_error,
    )


def _public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The version's metrics without stored users' ratings (``retrain``'s high-water mark lists the
    (user, film, rating) rows of its last second; their count and time stay)."""
    mark = metrics.get("db_high_water")
    if isinstance(mark, dict) and "at" in mark:
        metrics = {**metrics, "db_high_water": {k: v for k, v in mark.items() if k != "at"}}
    return metrics


def _redacted(value: Any) -> Any:
    """``value`` with every string's absolute paths hidden (``redact_paths``), at any depth."""
    if isinstance(value, str):
        return redact_paths(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


@router.post(
    "/admin/reload", response_model=schemas.Reloaded, responses=responses(401), dependencies=[Depends(require_admin)]
)
def reload_model(request: Request) -> schemas.Reloaded:
    """Check the registry now and swap in its current version if it changed (bearer token)."""
    holder = request.app.state.holder
    changed = holder.check(force=True)
    if holder.last_error and holder.current is None:
        raise ApiError(503, "no_model", f"reload failed: {holder.last_error}")
    return schemas.Reloaded(
        changed=changed, version=holder.current.version if holder.current else None, error=holder.last_error
    )


@router.get("/health", response_model=schemas.Health)
def health() -> schemas.Health:
    """Liveness: the process answers."""
    return schemas.Health(status="ok")


@router.get("/ready", response_model=schemas.Ready, responses=responses(503))
def ready(request: Request) -> schemas.Ready:
    """Readiness: a model is loaded and the database answers."""
    snap = current_snapshot(request)
    with request.app.state.engine.connect() as c:
        c.execute(text("SELECT 1"))
    return schemas.Ready(
        status="ready",
        model_version=snap.version,
        database=request.app.state.engine.dialect.name,
        reload_error=request.app.state.holder.last_error,
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text format: request counts and latencies by route, served model version."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
