"""``/v1/recommendations`` (anonymous) and ``/v1/predictions``."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from movierec.service import schemas
from movierec.service.core import (
    engine,
    exposure_log,
    listed,
    rating_problem,
    recommendations,
    snapshot,
    states_of_users,
)
from movierec.service.errors import ApiError, responses
from movierec.service.exposures import ExposureLog
from movierec.service.state import Snapshot

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=responses(404, 413, 422, 503))


@router.post("/recommendations", response_model=schemas.RecommendationList)
async def anonymous_recommendations(
    body: schemas.AnonRequest,
    snap: Annotated[Snapshot, Depends(snapshot)],
    exposures: Annotated[ExposureLog, Depends(exposure_log)],
) -> JSONResponse:
    """Top-k for an anonymous list of ratings (at most ``MAX_RATINGS`` = 1000), folded in; no rating is stored.

    Served by the current version (never an experiment's canary: there is no user to keep in one arm);
    the list is logged as an exposure without a user.
    """
    # ``async`` on purpose, as GET /v1/users/{id}/recommendations: no I/O at all, about 2 ms of NumPy;
    # the thread-pool hop (queue, wake-up, GIL hand-over) cost more than it could overlap.
    problems: list[str] = []
    unknown: list[str] = []
    first: dict[int, int] = {}
    for n, r in enumerate(body.ratings):  # every bad row named by its place in the body, not only the first
        if r.movie_id in first:
            problems.append(
                f"ratings.{n}.movie_id: film {r.movie_id} is already rated at ratings.{first[r.movie_id]}; "
                "send one rating per film"
            )
        first.setdefault(r.movie_id, n)
        if problem := rating_problem(snap.model.scale_, r.rating):
            problems.append(f"ratings.{n}.rating: {problem}")
        if snap.movie(r.movie_id) is None:
            unknown.append(f"ratings.{n}.movie_id: unknown movie id {r.movie_id}")
    if problems:
        raise ApiError(422, "invalid_input", listed(problems))
    if unknown:
        raise ApiError(404, "unknown_movie", listed(unknown) + "; search with GET /v1/movies?query=")
    state = snap.model.fold_in(list(first), [r.rating for r in body.ratings])
    return recommendations(snap, state, body.k, body.min_ratings, body.genre, None, body.rank_by, exposures=exposures)


@router.post("/predictions", response_model=schemas.PredictionList)
def predictions(
    body: schemas.PredictRequest, snap: Annotated[Snapshot, Depends(snapshot)], eng: Annotated[Engine, Depends(engine)]
) -> schemas.PredictionList:
    """Predicted stars for (user, movie) pairs, with each user's stored ratings folded in.

    A user unknown everywhere, or a film without training ratings, gets the
    model's fallback (baseline) and ``cold_start: true``. An id missing from
    the catalogue is a 404. At most ``MAX_PAIRS`` = 1000 pairs and
    ``MAX_PAIR_USERS`` = 100 distinct users (422 beyond): the work is one
    database query, one block of training users, and one fold-in per user with
    stored ratings (the costly part, about 1 ms each with the default model).
    """
    from movierec.ranking.scoring import ratings_at

    model = snap.model
    unknown = [
        f"pairs.{n}.movie_id: unknown movie id {p.movie_id}"
        for n, p in enumerate(body.pairs)
        if p.movie_id not in snap.rows
    ]
    if unknown:
        raise ApiError(404, "unknown_movie", listed(unknown) + "; search with GET /v1/movies?query=")
    users, user_of_pair = np.unique(np.array([p.user_id for p in body.pairs], dtype=np.int64), return_inverse=True)
    if len(users) > schemas.MAX_PAIR_USERS:
        raise ApiError(
            422, "invalid_input", f"pairs: {len(users)} distinct users; at most {schemas.MAX_PAIR_USERS} per request "
            "(each may need a fold-in of their stored ratings): split the pairs into several requests",
        )  # fmt: skip
    items = model.items_.positions([p.movie_id for p in body.pairs])
    raw = np.empty(len(body.pairs), dtype=np.float32)
    cold = np.zeros(len(body.pairs), dtype=bool)
    for state, members in states_of_users(snap, eng, users.tolist()):
        row_of_user = np.full(len(users), -1, dtype=np.int64)
        row_of_user[members] = np.arange(len(members)) if state.n_block > 1 else 0
        pairs = np.flatnonzero(row_of_user[user_of_pair] >= 0)
        rows = row_of_user[user_of_pair[pairs]]
        known = items[pairs] >= 0
        raw[pairs[known]] = ratings_at(model, state, rows[known], items[pairs[known]])
        bias = np.zeros(state.n_block)
        if "bias" in state.terms:
            bias = state.terms["bias"].reshape(state.n_block, -1)[:, 0]
        raw[pairs[~known]] = model.global_mean_ + bias[rows[~known]]  # a film without training ratings: mu + b_u
        user_cold = (state.user_idx < 0) & (np.diff(state.rated.indptr) == 0)
        cold[pairs] = user_cold[rows] | ~known
    rating = np.round(np.clip(raw, model.scale_.low, model.scale_.high).astype(np.float64), 4).tolist()
    out = [
        schemas.Prediction(user_id=p.user_id, movie_id=p.movie_id, predicted_rating=r, cold_start=c)
        for p, r, c in zip(body.pairs, rating, cold.tolist(), strict=True)
    ]
    return schemas.PredictionList(model_version=snap.version, predictions=out)
