"""Personal top-N: exclusion of rated films, the popularity guard, fold-in, fallback."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from movierec.models.base import Recommender, UserState
from movierec.ranking.topk import top_k


@dataclass
class Recommendation:
    """One recommended film.

    Attributes
    ----------
    movie_id : external id
    title : str
    score : float
        Predicted rating in stars, clipped to the rating scale (served value).
    raw_score : float
        The model's unclipped ranking score (ranking order follows this; for
        rating models it is the unclipped predicted rating).
    n_ratings : int
        Training ratings of the film (the popularity guard's evidence).
    genres : list of str
    year : int or None
    """

    movie_id: Any
    title: str
    score: float
    raw_score: float
    n_ratings: int
    genres: list[str] = field(default_factory=list)
    year: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def user_state_for(
    model: Recommender,
    user: Any = None,
    ratings: Sequence[tuple[Any, float]] | Iterable[tuple[Any, float]] | None = None,
) -> UserState:
    """The state to rank for: a training user, a fold-in of ``ratings``, or cold start.

    Parameters
    ----------
    user : external user id or UserState, optional
        A training user; unknown ids fall back to cold start unless ratings are given.
    ratings : iterable of (movie_id, rating), optional
        A new or anonymous user's ratings, folded in against the fixed item side.
    """
    if isinstance(user, UserState):
        return user
    if ratings is not None:
        pairs = list(ratings)
        return model.fold_in([m for m, _ in pairs], [r for _, r in pairs])
    if user is not None and user in model.users_:
        return model.user_state(user)
    return UserState(-1, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


def candidate_mask(
    model: Recommender,
    state: UserState,
    min_ratings: int,
    exclude_rated: bool = True,
    exclude: Iterable[Any] = (),
    genre: str | None = None,
) -> np.ndarray:
    """Items allowed in a recommendation list.

    An item passes when its training rating count is ``>= min_ratings``
    (inclusive; counts come from the training data after duplicate handling,
    and a user's own fold-in ratings do not count, case C20), the user has not
    rated it (when ``exclude_rated``), it is not in ``exclude``, and it carries
    ``genre`` when one is given.

    Returns
    -------
    ndarray of shape (n_items,), bool
    """
    mask = model.item_counts_ >= int(min_ratings)
    if exclude_rated and state.rated_idx.size:
        mask[state.rated_idx] = False
    ex = model.items_.positions(exclude)
    mask[ex[ex >= 0]] = False
    if genre:
        mask &= _genre_mask(model, genre)
    return mask


def _genre_mask(model: Recommender, genre: str) -> np.ndarray:
    cache = model.__dict__.setdefault("_genre_cache", {})
    if genre not in cache:
        table = model.item_table()
        wanted = genre.casefold()
        cache[genre] = np.array([any(g.casefold() == wanted for g in (gs or [])) for gs in table["genres"].to_list()])
    return cache[genre]


def recommend(
    model: Recommender,
    user: Any = None,
    *,
    ratings: Iterable[tuple[Any, float]] | None = None,
    k: int = 10,
    min_ratings: int | None = None,
    exclude_rated: bool = True,
    exclude: Iterable[Any] = (),
    genre: str | None = None,
    rank_by: str = "score",
) -> list[Recommendation]:
    """Top-k films for a user, a list of new ratings, or nobody (cold start).

    Parameters
    ----------
    model : fitted Recommender
    user : external user id or UserState, optional
        A training user. An unknown id with no ``ratings`` gets the
        non-personalised fallback: films ranked by μ + b_i (the model's item
        baseline), guard applied.
    ratings : iterable of (movie_id, rating), optional
        Ratings of a new user, folded in (no retraining, case C29).
    k : int, default 10
        Length wanted; the result is shorter when fewer films are eligible and
        empty when the user rated everything (case C18).
    min_ratings : int, optional
        Popularity guard (inclusive). Defaults to the model's configured
        ``min_ratings`` (see ``ALSConfig``), 0 for models without one.
    exclude_rated : bool, default True
        Leave out films the user rated (case C17).
    exclude : iterable of movie ids
        Further films to leave out.
    genre : str, optional
        Only films of this genre (case-insensitive).
    rank_by : {"score", "rating"}, default "score"
        Rank by the model's ranking score (the hybrid's choice-and-liking
        score) or by its predicted rating alone (the classic explicit list).

    Returns
    -------
    list of Recommendation, best first

    Raises
    ------
    DataValidationError
        If ``ratings`` are invalid (see ``Recommender.fold_in``) or k < 0.
    """
    from movierec.errors import DataValidationError

    if k < 0:
        raise DataValidationError(f"k must be >= 0, got {k}")
    if rank_by not in ("score", "rating"):
        raise DataValidationError(f"rank_by must be 'score' or 'rating', got {rank_by!r}")
    state = user_state_for(model, user, ratings)
    if min_ratings is None:
        min_ratings = default_min_ratings(model)
    ratings_pred = model.rating_scores(state)
    scores = ratings_pred if rank_by == "rating" else model.score(state)
    mask = candidate_mask(model, state, min_ratings, exclude_rated, exclude, genre)
    chosen = top_k(scores, mask, k, model.item_counts_)
    return describe(model, chosen, scores, ratings_pred)


def default_min_ratings(model: Recommender) -> int:
    """The model's configured popularity guard, or 0.

    Read from the config's ``min_ratings``, or from its explicit part's for models
    that wrap an ``ALSConfig`` (``als-time``, ``bias-time``).
    """
    cfg = model.config_dict()
    if "min_ratings" in cfg:
        return int(cfg["min_ratings"])
    return int(cfg.get("explicit", {}).get("min_ratings", 0))


def describe(
    model: Recommender, item_idx: np.ndarray, scores: np.ndarray, ratings_pred: np.ndarray | None = None
) -> list[Recommendation]:
    """Turn item positions into ``Recommendation`` records.

    ``score`` is the predicted rating (``ratings_pred``, default ``scores``)
    clipped to the scale; ``raw_score`` is the ranking score.
    """
    if ratings_pred is None:
        ratings_pred = scores
    if item_idx.size == 0:
        return []
    table = model.__dict__.get("_item_table_cache")
    if table is None:
        table = model.item_table()
        model.__dict__["_item_table_cache"] = table
    rows = table[item_idx.tolist()]
    lo, hi = model.scale_.low, model.scale_.high
    out = []
    for idx, row in zip(item_idx, rows.iter_rows(named=True)):
        rating = float(ratings_pred[idx])
        out.append(
            Recommendation(
                movie_id=row["movie_id"],
                title=row["title"] or f"movie {row['movie_id']}",
                score=float(min(max(rating, lo), hi)),
                raw_score=float(scores[idx]),
                n_ratings=int(row["n_ratings"]),
                genres=list(row["genres"] or []),
                year=row["year"],
            )
        )
    return out
