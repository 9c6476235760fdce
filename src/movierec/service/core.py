"""Request plumbing shared by the routers: dependencies, user states, response records.

How a user's ratings are combined (the service's fold-in rule):

* a user with ratings in the database is folded in (one least-squares solve
  against the fixed item side, ``Recommender.fold_in``) from the union of their
  training ratings in the served model (when they are a training user) and
  their database ratings, the database winning where both rate a film; so a
  write changes that user's next recommendations without a retrain;
* a training user with no database ratings uses the model's learned state;
* anyone else is a cold user: non-personal ranking by the model's baseline,
  popularity guard applied.
"""

from __future__ import annotations

import math
import secrets
import uuid
from typing import Annotated, Any

import numpy as np
from fastapi import Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from movierec.data.dataset import RatingScale
from movierec.errors import DataValidationError
from movierec.models.base import UserState
from movierec.ranking import recommend
from movierec.ranking.index import index_for
from movierec.ranking.scoring import resolve_policy
from movierec.service.errors import ApiError
from movierec.service.exposures import ExposureLog
from movierec.service.schemas import DIGITS, MAX_ID
from movierec.service.state import Arm, ModelHolder, Snapshot
from movierec.store import db


# The dependencies are ``async`` on purpose: they do no I/O, and FastAPI runs every
# sync dependency in the thread pool, a hop per dependency per request.
def current_snapshot(request: Request) -> Snapshot:
    """The served model, or 503 ``no_model``."""
    holder: ModelHolder = request.app.state.holder
    snap = holder.current
    if snap is None:
        reason = holder.last_error or "no model version is published in the registry"
        raise ApiError(503, "no_model", f"no model is loaded ({reason}); publish one with `movierec train --registry`")
    return snap


async def snapshot(request: Request) -> Snapshot:
    """Dependency: the served model for this whole request (taken once: no mixed versions)."""
    return current_snapshot(request)


async def served_for_user(
    request: Request, user_id: Annotated[int, Path(ge=1, le=MAX_ID), DIGITS]
) -> tuple[Snapshot, Arm | None]:
    """Dependency: the snapshot serving this user for the whole request (the canary's for users in
    a running experiment's canary arm) and the arm, or 503 ``no_model``."""
    snap, arm = request.app.state.holder.serve(user_id)
    return (snap if snap is not None else current_snapshot(request)), arm  # None: the 503


async def exposure_log(request: Request) -> ExposureLog:
    """Dependency: the app's exposure queue."""
    return request.app.state.exposures  # type: ignore[no-any-return]


async def engine(request: Request) -> Engine:
    """Dependency: the ratings database engine."""
    return request.app.state.engine  # type: ignore[no-any-return]


def is_admin(request: Request, token: str | None) -> bool:
    """Whether ``token`` is the admin token (constant-time comparison; False when none is configured)."""
    admin = request.app.state.settings.admin_token
    return (
        token is not None
        and admin is not None
        and secrets.compare_digest(token.encode(), admin.get_secret_value().encode())
    )


async def require_admin(request: Request) -> None:
    """Accept only ``Authorization: Bearer <MOVIEREC_ADMIN_TOKEN>`` (constant-time comparison)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not (scheme.lower() == "bearer" and is_admin(request, given.strip())):
        raise ApiError(
            401,
            "unauthorized",
            "admin routes need 'Authorization: Bearer <token>' with the admin token",
            {"WWW-Authenticate": "Bearer"},
        )


def scale_of(snap: Snapshot | None) -> RatingScale:
    """The served model's rating scale; MovieLens' (0.5-5 in half stars) while no model is loaded."""
    return snap.model.scale_ if snap is not None else RatingScale()


def rating_problem(scale: RatingScale, value: float) -> str | None:
    """Why a rating is not on the scale (range and step), or None if it is."""
    steps = (value - scale.low) / scale.step if scale.step else 0.0
    if not (math.isfinite(value) and scale.low <= value <= scale.high) or abs(steps - round(steps)) > 1e-6:
        return f"rating {value:g} is not on the scale {scale.describe()}"
    return None


def check_rating(scale: RatingScale, value: float, field: str = "rating") -> float:
    """The rating if it is on the scale, else 422 naming ``field``."""
    problem = rating_problem(scale, value)
    if problem:
        raise ApiError(422, "invalid_input", f"{field}: {problem}")
    return float(value)


def listed(problems: list[str], most: int = 10) -> str:
    """Problems joined for one error message, the first ``most`` in full and a count of the rest."""
    rest = f" (and {len(problems) - most} more)" if len(problems) > most else ""
    return "; ".join(problems[:most]) + rest


def check_genre(snap: Snapshot, genre: str | None) -> None:
    """422 if no film of the served model has ``genre`` (an empty list would hide the typo)."""
    index = index_for(snap.model)
    if genre and not index.genre_mask(genre).any():
        known = ", ".join(index.genres()) or "none"
        raise ApiError(
            422, "invalid_input", f"genre: no film of the served model has the genre {genre!r}; its genres: {known}"
        )


def movie_or_404(snap: Snapshot, movie_id: int) -> dict[str, Any]:
    row = snap.movie(movie_id)
    if row is None:
        raise ApiError(404, "unknown_movie", f"unknown movie id {movie_id}; search with GET /v1/movies?query=")
    return row


def movie_record(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("movie_id", "title", "year", "genres", "n_ratings")}


def user_state(snap: Snapshot, eng: Engine, user_id: int) -> tuple[UserState, bool]:
    """The user's state by the rule in the module docstring, and whether the user is known at all."""
    model = snap.model
    pairs = db.user_rating_pairs(eng, user_id)
    if pairs:
        return _folded(snap, user_id, pairs), True
    if user_id in model.users_:
        return model.user_state(user_id), True
    return model.cold_state(), db.user_exists(eng, user_id)


def _folded(snap: Snapshot, user_id: int, pairs: list[tuple[int, float]]) -> UserState:
    """Fold-in of a user's stored ratings over their training ratings (the stored rating wins)."""
    model = snap.model
    merged: dict[Any, float] = {}
    if user_id in model.users_:
        rated, values = model.user_state(user_id).rated_items(0)
        merged.update(zip(model.items_.to_ids(rated), values.tolist(), strict=True))
    merged.update(pairs)
    return model.fold_in(list(merged), list(merged.values()))


def states_of_users(snap: Snapshot, eng: Engine, user_ids: list[int]) -> list[tuple[UserState, np.ndarray]]:
    """States of many users by the same rule as ``user_state``, grouped to be scored a block at a time.

    One database query for all the users' stored ratings; then one block for the training users
    without stored ratings, one cold state shared by the users unknown to the model, and a fold-in
    for each user with stored ratings (that solve is per user).

    Returns
    -------
    list of (UserState, ndarray of int64)
        Each state with the positions in ``user_ids`` it serves: for a block of n users, row r of
        the block serves ``user_ids[positions[r]]``; for a block of one, every position shares it.
    """
    model = snap.model
    stored = db.rating_pairs_of_users(eng, user_ids)
    ids = np.asarray(user_ids, dtype=np.int64)
    groups: list[tuple[UserState, np.ndarray]] = []
    folded = np.array([u in stored for u in user_ids], dtype=bool)
    for n in np.flatnonzero(folded):
        groups.append((_folded(snap, int(ids[n]), stored[int(ids[n])]), np.array([n])))
    pos = model.users_.positions(user_ids)
    trained = (pos >= 0) & ~folded
    if trained.any():
        groups.append((model.user_states(pos[trained]), np.flatnonzero(trained)))
    cold = (pos < 0) & ~folded
    if cold.any():
        groups.append((model.cold_state(), np.flatnonzero(cold)))
    return groups


def recommendations(
    snap: Snapshot,
    state: UserState,
    k: int,
    min_ratings: int | None,
    genre: str | None,
    user_id: int | None,
    rank_by: str | None = None,
    *,
    exposures: ExposureLog | None = None,
    arm: Arm | None = None,
) -> JSONResponse:
    """Top-k with explanations for a state (``rank_by`` None = the model's default ranking).

    Each answer carries a fresh ``request_id`` (uuid4 hex) and the experiment ``arm`` that chose
    ``snap`` (null outside an A/B experiment); the list is queued on ``exposures`` (written to the
    database off the request path, ``movierec.service.exposures``).

    The answer is a ``schemas.RecommendationList`` written straight to JSON: building pydantic
    objects that FastAPI then validates and serialises again cost about a tenth of the request's
    CPU on the hot path; the routes still declare the model (the OpenAPI schema), and the
    Schemathesis tests check every answer against it.
    """
    model = snap.model
    genre = (genre or "").strip() or None  # as the movie search: blank means no filter
    check_genre(snap, genre)
    policy = resolve_policy(model, min_ratings, rank_by)
    guard, rank_by = policy.min_ratings, str(policy.rank_by)
    try:
        recs = recommend(model, state, k=k, min_ratings=guard, genre=genre, rank_by=rank_by)
    except DataValidationError as exc:
        raise ApiError(422, "invalid_input", str(exc)) from None
    items = model.items_.positions([r.movie_id for r in recs])
    why = snap.similarity.explain(state, items)
    out = [
        {
            "movie_id": int(r.movie_id),
            "title": r.title,
            "year": None if r.year is None else int(r.year),
            "genres": list(r.genres or []),
            "predicted_rating": round(float(r.score), 4),
            "n_ratings": int(r.n_ratings),
            "explanation": e.text,
            "because": [
                {"movie_id": int(b.movie_id), "title": b.title, "rating": float(b.rating),
                 "similarity": round(float(b.similarity), 4)}
                for b in e.reasons
            ],
        }
        for r, e in zip(recs, why, strict=True)
    ]  # fmt: skip
    request_id = uuid.uuid4().hex
    if exposures is not None:
        experiment, name = (arm.experiment, arm.name) if arm is not None else (None, None)
        exposures.record(request_id, user_id, snap.version, experiment, name, [r["movie_id"] for r in out])
    return JSONResponse({
        "request_id": request_id, "user_id": user_id, "model_version": snap.version,
        "arm": None if arm is None else arm.name, "min_ratings": int(guard), "rank_by": rank_by,
        "recommendations": out, "ignored_movie_ids": [int(m) for m in state.unknown_movie_ids],
        "note": recs.note or None,
    })  # fmt: skip
