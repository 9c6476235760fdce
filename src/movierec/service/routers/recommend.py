"""``/v1/recommendations`` (anonymous) and ``/v1/predictions``."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends
from sqlalchemy import Engine

from movierec.service import schemas
from movierec.service.core import engine, listed, rating_problem, recommendations, snapshot, user_state
from movierec.service.errors import ApiError, responses
from movierec.service.state import Snapshot

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=responses(404, 413, 422, 503))


@router.post("/recommendations", response_model=schemas.RecommendationList)
def anonymous_recommendations(
    body: schemas.AnonRequest, snap: Annotated[Snapshot, Depends(snapshot)]
) -> schemas.RecommendationList:
    """Top-k for an anonymous list of ratings (at most ``MAX_RATINGS`` = 1000), folded in; nothing is stored."""
    problems, unknown, first = [], [], {}
    for n, r in enumerate(body.ratings):  # every bad row named by its place in the body, not only the first
        if r.movie_id in first:
            problems.append(f"ratings.{n}.movie_id: film {r.movie_id} is already rated at ratings.{first[r.movie_id]}; send one rating per film")
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
    return recommendations(snap, state, body.k, body.min_ratings, body.genre, None, body.rank_by)


@router.post("/predictions", response_model=schemas.PredictionList)
def predictions(
    body: schemas.PredictRequest, snap: Annotated[Snapshot, Depends(snapshot)], eng: Annotated[Engine, Depends(engine)]
) -> schemas.PredictionList:
    """Predicted stars for (user, movie) pairs, with each user's stored ratings folded in.

    A user unknown everywhere, or a film without training ratings, gets the
    model's fallback (baseline) and ``cold_start: true``. An id missing from
    the catalogue is a 404.
    """
    from movierec.ranking.scoring import ratings_at

    model = snap.model
    unknown = [f"pairs.{n}.movie_id: unknown movie id {p.movie_id}" for n, p in enumerate(body.pairs) if snap.movie(p.movie_id) is None]
    if unknown:
        raise ApiError(404, "unknown_movie", listed(unknown) + "; search with GET /v1/movies?query=")
    items = model.items_.positions([p.movie_id for p in body.pairs])
    raw = np.empty(len(body.pairs), dtype=np.float32)
    cold = np.zeros(len(body.pairs), dtype=bool)
    by_user: dict[int, list[int]] = {}
    for n, p in enumerate(body.pairs):
        by_user.setdefault(p.user_id, []).append(n)
    for user_id, rows in by_user.items():  # one state per user, every pair of the user at once
        state, _ = user_state(snap, eng, user_id)
        idx = np.array(rows)
        known = items[idx] >= 0
        if known.any():
            raw[idx[known]] = ratings_at(model, state, np.zeros(int(known.sum()), np.int64), items[idx[known]])
        if (~known).any():  # a film without training ratings: the user's fallback μ + b_u
            bias = float(state.terms["bias"][0]) if "bias" in state.terms else 0.0
            raw[idx[~known]] = model.global_mean_ + bias
        cold[idx] = state.is_cold | ~known
    lo, hi = model.scale_.low, model.scale_.high
    out = [
        schemas.Prediction(user_id=p.user_id, movie_id=p.movie_id, predicted_rating=round(min(max(float(raw[n]), lo), hi), 4),
                           cold_start=bool(cold[n]))  # fmt: skip
        for n, p in enumerate(body.pairs)
    ]
    return schemas.PredictionList(model_version=snap.version, predictions=out)
