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
    model = snap.model
    unknown = [f"pairs.{n}.movie_id: unknown movie id {p.movie_id}" for n, p in enumerate(body.pairs) if snap.movie(p.movie_id) is None]
    if unknown:
        raise ApiError(404, "unknown_movie", listed(unknown) + "; search with GET /v1/movies?query=")
    scores: dict[int, tuple[np.ndarray, bool, float]] = {}
    out = []
    lo, hi = model.scale_.low, model.scale_.high
    for p in body.pairs:
        if p.user_id not in scores:
            state, _ = user_state(snap, eng, p.user_id)
            scores[p.user_id] = (model.rating_scores(state), state.is_cold, state.bias)
        s, cold, bias = scores[p.user_id]
        i = model.items_.get(p.movie_id)
        raw = float(s[i]) if i >= 0 else model.global_mean_ + bias
        out.append(
            schemas.Prediction(
                user_id=p.user_id,
                movie_id=p.movie_id,
                predicted_rating=round(min(max(raw, lo), hi), 4),
                cold_start=bool(cold or i < 0),
            )
        )
    return schemas.PredictionList(model_version=snap.version, predictions=out)
