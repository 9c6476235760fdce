"""Request and response bodies of the ``/v1`` API (pydantic v2).

Ids are integers from 1 to 2**53 - 1 (``MAX_ID``). Ratings are in
stars on the served model's scale (MovieLens: 0.5 to 5.0 in half stars);
timestamps are UTC epoch seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from movierec.store import db

MAX_ID = db.MAX_ID  # 2**53 - 1; why there
MAX_RATINGS = 1000
"""Most ratings accepted in one anonymous ``POST /v1/recommendations`` (422 beyond)."""
MAX_PAIRS = 1000
"""Most (user, movie) pairs in one ``POST /v1/predictions`` (422 beyond)."""
MAX_PAIR_USERS = 100
"""Most distinct users in one ``POST /v1/predictions`` (422 beyond): each user with stored ratings
costs a fold-in (about 1 ms of CPU with the default model), so this bounds a request's work."""
MAX_K = 100
"""Longest recommendation or similar-films list."""

_DIGITS = re.compile(r"-?[0-9]+")


def _ascii_integer(value: Any) -> Any:
    """A query or path integer must be ASCII digits: Python's int() also takes "\xa03", " 3", "1_000", "3.0"."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError(f"{value!r} is not an integer written with the digits 0-9")
    return value


def _whole_number(value: Any) -> Any:
    """A JSON number with no fraction is an integer (JSON Schema's rule, so the OpenAPI schema's): 285.0 is 285."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


DIGITS = BeforeValidator(_ascii_integer)
"""Last in a query or path integer's ``Annotated`` (after ``Query``/``Path``, so the schema keeps its bounds):
ASCII digits only."""
WHOLE = BeforeValidator(_whole_number)
"""Last in a body integer's ``Annotated`` (after ``Field``, so the schema keeps its bounds): 285 or 285.0,
never "285" or true."""
Id = Annotated[int, Field(ge=1, le=MAX_ID), WHOLE]
Stars = Annotated[
    float,
    Field(
        ge=0,
        le=10,
        allow_inf_nan=False,
        strict=True,
        description="Stars on the model's scale (a JSON number; true/false and strings are refused)",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as documented: "5" is not a number


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. unknown_movie, invalid_input, no_model")
    message: str = Field(description="What was wrong and what to try")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class Movie(BaseModel):
    movie_id: int
    title: str
    year: int | None = None
    genres: list[str] = []
    n_ratings: int = Field(description="Training ratings of the film in the served model")


class MoviePage(BaseModel):
    total: int
    limit: int
    offset: int
    movies: list[Movie]


class SimilarMovie(Movie):
    similarity: float = Field(description="Shrunk adjusted cosine of co-ratings, in (0, 1]")


class SimilarList(BaseModel):
    movie_id: int
    model_version: str
    similar: list[SimilarMovie]


class RatingIn(Strict):
    rating: Stars


class Rating(BaseModel):
    user_id: int
    movie_id: int
    rating: float
    title: str | None = None
    created_at: int = Field(description="UTC epoch seconds of the first rating")
    updated_at: int = Field(description="UTC epoch seconds of the latest change")


class UserRatings(BaseModel):
    user_id: int
    ratings: list[Rating] = Field(description="Ratings stored in the database")
    n_training_ratings: int = Field(description="Ratings of this user in the served model's training data")


class NewUser(BaseModel):
    user_id: int
    token: str = Field(
        description="The user's secret token, shown only this once (the service keeps only a salted hash): "
        "send it as 'Authorization: Bearer <token>' on the user's routes"
    )


class Because(BaseModel):
    movie_id: int
    title: str
    rating: float = Field(description="Your rating of this film")
    similarity: float


class Recommendation(BaseModel):
    movie_id: int
    title: str
    year: int | None = None
    genres: list[str] = []
    predicted_rating: float = Field(description="Predicted stars, clipped to the scale")
    n_ratings: int = Field(description="Training ratings of the film (popularity guard evidence)")
    explanation: str = Field(description='Short "because you rated ..." sentence')
    because: list[Because] = []


RankBy = Literal["score", "rating", "confidence"]
"""What a list is ranked by (``movierec.recommend``'s ``rank_by``); None = the model's default."""


class RecommendationList(BaseModel):
    request_id: str = Field(
        description="Id of this answer (32 hex digits); send it with POST /v1/events to report a click or dismissal"
    )
    user_id: int | None = None
    model_version: str
    arm: Literal["control", "canary"] | None = Field(
        None, description="The A/B experiment arm that chose model_version; null outside an experiment"
    )
    min_ratings: int
    rank_by: str = Field(description="What the list is ranked by: score, rating or confidence")
    recommendations: list[Recommendation]
    ignored_movie_ids: list[int] = Field(
        default_factory=list,
        description="Rated films the served model has no factors for (no training ratings, or not in its "
        "catalogue): kept, but not part of these recommendations until a retrain includes them",
    )
    note: str | None = Field(
        None,
        description="Why the list holds fewer than k films (e.g. the user has rated every film the guard and "
        "genre leave); null when it is full. The same words as the CLI and the Python API",
    )


class AnonRating(Strict):
    movie_id: Id
    rating: Stars


class AnonRequest(Strict):
    ratings: list[AnonRating] = Field(
        max_length=MAX_RATINGS, description=f"At most {MAX_RATINGS} ratings, one per film"
    )
    k: Annotated[int, Field(ge=1, le=MAX_K), WHOLE] = 10
    min_ratings: Annotated[int | None, Field(ge=0), WHOLE] = None
    genre: str | None = Field(None, max_length=100)
    rank_by: RankBy | None = Field(None, description="score, rating or confidence; default: the model's")


class Pair(Strict):
    user_id: Id
    movie_id: Id


class PredictRequest(Strict):
    pairs: list[Pair] = Field(
        max_length=MAX_PAIRS, description=f"At most {MAX_PAIRS} pairs, naming at most {MAX_PAIR_USERS} distinct users"
    )


class Prediction(BaseModel):
    user_id: int
    movie_id: int
    predicted_rating: float
    cold_start: bool = Field(description="True where the user or the film had nothing to learn from (fallback used)")


class PredictionList(BaseModel):
    model_version: str
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    version: str
    model: str
    config: dict[str, object]
    metrics: dict[str, object]
    trained_at: str = Field(description="UTC ISO time the model was saved")
    n_users: int
    n_items: int
    n_ratings: int
    data_fingerprint: str
    reload_error: str | None = Field(
        None, description="Why the registry's current version is not the one served (it failed to load), else null"
    )


class Reloaded(BaseModel):
    changed: bool
    version: str | None
    error: str | None = Field(None, description="Why the registry's current version could not be loaded, else null")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model_version: str
    database: str
    reload_error: str | None = Field(
        None, description="Ready on an older version: why the registry's current one failed to load, else null"
    )


EventType = Literal["clicked", "dismissed"]


class EventIn(Strict):
    request_id: str = Field(pattern="^[0-9a-f]{32}$", description="The request_id of a recommendation answer")
    movie_id: Id
    type: EventType


class EventOut(BaseModel):
    request_id: str
    movie_id: int
    type: EventType
    at: float = Field(description="UTC epoch seconds the event was recorded")
