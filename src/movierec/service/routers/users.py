"""``/v1/users``: a user's ratings (stored in the database) and personal recommendations.

Who may call which route: ``service.auth`` (tokens, admin, training users); write limits:
``service.ratelimit``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from movierec.service import schemas
from movierec.service.auth import (
    UserId,
    authorize,
    bearer,
    bearer_token,
    read_access,
    remember,
    unknown_user,
    write_access,
)
from movierec.service.core import (
    check_rating,
    engine,
    exposure_log,
    recommendations,
    scale_of,
    served_for_user,
    user_state,
)
from movierec.service.errors import ApiError, responses
from movierec.service.exposures import ExposureLog
from movierec.service.ratelimit import limit_signups, limit_writes
from movierec.service.state import Arm, Snapshot
from movierec.store import db, tokens

router = APIRouter(prefix="/v1/users", tags=["users"], responses=responses(422, 503))
MovieId = Annotated[int, Path(ge=1, le=schemas.MAX_ID), schemas.DIGITS]
OPTIONAL_TOKEN: dict[str, Any] = {"security": [{}]}  # appended to the bearer scheme: the token is optional
READ = {"dependencies": [Depends(read_access)], "responses": responses(401, 403, 404), "openapi_extra": OPTIONAL_TOKEN}
WRITE = {"dependencies": [Depends(limit_writes), Depends(write_access)], "responses": responses(401, 403, 404, 429)}


def _rating(row: db.Rating, snap: Snapshot | None) -> schemas.Rating:
    movie = snap.movie(row.movie_id) if snap is not None else None
    return schemas.Rating(
        user_id=row.user_id,
        movie_id=row.movie_id,
        rating=row.rating,
        title=movie["title"] if movie else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post(
    "", response_model=schemas.NewUser, status_code=201, responses=responses(409, 429),
    dependencies=[Depends(limit_signups)], openapi_extra=OPTIONAL_TOKEN,
)  # fmt: skip
def create_user(request: Request, eng: Annotated[Engine, Depends(engine)]) -> schemas.NewUser:
    """A fresh user id, above every training and stored user id, and its secret token, shown only this once.

    The token goes in ``Authorization: Bearer <token>`` on the user's routes; the service keeps only
    a salted hash of it. Limited per client address (429 ``rate_limited``).
    """
    snap = request.app.state.holder.current
    floor = 0
    if snap is not None and snap.model.users_.is_integer and len(snap.model.users_):
        floor = int(snap.model.users_.ids.max())  # type: ignore[arg-type]
    token, token_hash, key = tokens.issue()
    try:
        user_id = db.create_user(eng, floor, ceiling=schemas.MAX_ID, token=(token_hash, key))
    except db.IdsExhaustedError as exc:
        raise ApiError(409, "ids_exhausted", str(exc)) from None
    remember(request, user_id, token, token_hash)
    return schemas.NewUser(user_id=user_id, token=token)


@router.get("/{user_id}/ratings", response_model=schemas.UserRatings, **READ)  # type: ignore[arg-type]
def list_ratings(user_id: UserId, request: Request, eng: Annotated[Engine, Depends(engine)]) -> schemas.UserRatings:
    """The user's ratings stored in the database, and how many training ratings the model has of them."""
    snap = request.app.state.holder.current
    rows = db.user_ratings(eng, user_id)
    n_train = 0
    if snap is not None and user_id in snap.model.users_:
        u = snap.model.users_.index(user_id)
        n_train = int(snap.model.user_items_.indptr[u + 1] - snap.model.user_items_.indptr[u])
    if not rows and not n_train and not db.user_exists(eng, user_id):
        raise unknown_user(user_id)
    return schemas.UserRatings(user_id=user_id, ratings=[_rating(r, snap) for r in rows], n_training_ratings=n_train)


@router.delete("/{user_id}/ratings", status_code=204, **WRITE)  # type: ignore[arg-type]
def delete_all_ratings(user_id: UserId, eng: Annotated[Engine, Depends(engine)]) -> Response:
    """Delete every stored rating of the user (training data is untouched)."""
    if not db.user_exists(eng, user_id):
        raise unknown_user(user_id)
    db.delete_ratings(eng, user_id)
    return Response(status_code=204)


@router.get("/{user_id}/ratings/{movie_id}", response_model=schemas.Rating, **READ)  # type: ignore[arg-type]
def get_rating(
    user_id: UserId, movie_id: MovieId, request: Request, eng: Annotated[Engine, Depends(engine)]
) -> schemas.Rating:
    """One stored rating."""
    row = db.get_rating(eng, user_id, movie_id)
    if row is None:
        raise ApiError(404, "unknown_rating", f"user {user_id} has no stored rating of movie {movie_id}")
    return _rating(row, request.app.state.holder.current)


@router.put("/{user_id}/ratings/{movie_id}", response_model=schemas.Rating, **WRITE)  # type: ignore[arg-type]
def put_rating(
    user_id: UserId,
    movie_id: MovieId,
    body: schemas.RatingIn,
    request: Request,
    eng: Annotated[Engine, Depends(engine)],
) -> schemas.Rating:
    """Store (insert or replace) a rating; it is committed before the reply and changes the next recommendations.

    Only for a user created by ``POST /v1/users`` (their token) or, with the admin token, a training
    user; any other id is a 404 ``unknown_user`` (no request creates a user).
    """
    snap = request.app.state.holder.current  # read once: scale and catalogue of one version
    value = check_rating(scale_of(snap), body.rating)
    if snap is not None and snap.movie(movie_id) is None:
        raise ApiError(404, "unknown_movie", f"unknown movie id {movie_id}")
    try:
        row = db.upsert_rating(eng, user_id, movie_id, value)
    except IntegrityError:  # the film is not in the database's catalogue
        raise ApiError(404, "unknown_movie", f"unknown movie id {movie_id}") from None
    return _rating(row, snap)


@router.delete("/{user_id}/ratings/{movie_id}", status_code=204, **WRITE)  # type: ignore[arg-type]
def delete_rating(user_id: UserId, movie_id: MovieId, eng: Annotated[Engine, Depends(engine)]) -> Response:
    """Delete one stored rating."""
    if db.delete_ratings(eng, user_id, movie_id) == 0:
        raise ApiError(404, "unknown_rating", f"user {user_id} has no stored rating of movie {movie_id}")
    return Response(status_code=204)


@router.get(
    "/{user_id}/recommendations", response_model=schemas.RecommendationList, responses=responses(401, 403, 404),
    openapi_extra={"security": [{bearer.scheme_name: []}, {}]},
)  # fmt: skip
async def user_recommendations(
    request: Request,
    user_id: UserId,
    served: Annotated[tuple[Snapshot, Arm | None], Depends(served_for_user)],
    eng: Annotated[Engine, Depends(engine)],
    exposures: Annotated[ExposureLog, Depends(exposure_log)],
    k: Annotated[int, Query(ge=1, le=schemas.MAX_K), schemas.DIGITS] = 10,
    min_ratings: Annotated[
        int | None, Query(ge=0, description="Popularity guard (default: the model's)"), schemas.DIGITS
    ] = None,
    genre: Annotated[str, Query(max_length=100)] = "",
    rank_by: Annotated[
        schemas.RankBy | None, Query(description="score, rating or confidence (default: the model's ranking)")
    ] = None,
) -> JSONResponse:
    """Top-k films for a training or stored user, with their stored ratings folded in.

    During an A/B experiment the user's arm chooses the version (``model_version`` and ``arm`` say
    which); every answer has a ``request_id`` and is logged as an exposure.
    """
    snap, arm = served
    # ``async`` on purpose (the hot path): with the embedded SQLite database, about 1 ms of NumPy and
    # one indexed local lookup run on the event loop instead of hopping to the thread pool, which cost
    # more latency than the work (p99 8.5 vs 10.8-23.9 ms at 300 req/s). A networked database's round
    # trips (and pool waits) would stall the loop, so there the lookup runs in the thread pool.
    # Access (``service.auth``) is checked here, not by a dependency: a training user's list (most
    # traffic) then costs one membership test, where the dependency cost about 0.2 ms a request.
    if user_id not in snap.model.users_ or user_id in snap.private_users:
        await authorize(request, user_id, bearer_token(request), write=False)
    if eng.dialect.name == "sqlite":
        state, known = user_state(snap, eng, user_id)
    else:
        state, known = await run_in_threadpool(user_state, snap, eng, user_id)
    if not known:
        raise unknown_user(user_id)
    return recommendations(snap, state, k, min_ratings, genre, user_id, rank_by, exposures=exposures, arm=arm)
