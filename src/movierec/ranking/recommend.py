"""Personal top-N for one user (a training user, a fold-in of new ratings, or nobody), or a frame for many."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from movierec.models.base import Recommender, UserState
from movierec.ranking.index import RankingIndex, index_for
from movierec.ranking.lists import Ranked, rank_states
from movierec.ranking.scoring import resolve_policy


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
        The unclipped ranking score (the order follows it): the unclipped predicted rating under
        ``rank_by="rating"`` (and "score" for rating models), the confidence score under
        ``rank_by="confidence"``, the hybrid's choice-and-liking score under "score".
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


class Recommendations(list):  # type: ignore[type-arg]
    """A list of ``Recommendation`` (best first) that says why it is shorter than asked.

    Attributes
    ----------
    note : str or None
        None when the list has the k films asked for; else the reason, e.g. that no film passes the
        guard and genre, or that the user has rated every film that does.
    """

    note: str | None = None


def user_state_for(
    model: Recommender,
    user: Any = None,
    ratings: Sequence[tuple[Any, float]] | Iterable[tuple[Any, float]] | None = None,
) -> UserState:
    """The state to rank for: a training user, a fold-in of ``ratings``, or cold start (``user`` None).

    Raises
    ------
    UnknownIdError
        If ``user`` is not a training user and no ``ratings`` are given.
    """
    if isinstance(user, UserState):
        return user
    if ratings is not None:
        pairs = list(ratings)
        return model.fold_in([m for m, _ in pairs], [r for _, r in pairs])
    if user is None:
        return model.cold_state()
    return model.user_state(user)


def recommend(
    model: Recommender,
    user: Any = None,
    *,
    users: Sequence[Any] | None = None,
    ratings: Iterable[tuple[Any, float]] | None = None,
    k: int = 10,
    min_ratings: int | None = None,
    exclude_rated: bool = True,
    exclude: Iterable[Any] = (),
    genre: str | None = None,
    rank_by: str | None = None,
    confidence_weight: float | None = None,
) -> Any:
    """Top-k films for a user, a list of new ratings, or nobody (cold start); or a frame for ``users``.

    Parameters
    ----------
    model : fitted Recommender
    user : external user id or UserState, optional
        A training user (``UnknownIdError`` otherwise). None with no ``ratings``: the
        non-personalised list (a user the model knows nothing about), guard applied.
    users : sequence of external user ids, optional
        Training users to rank at once through the block path; returns ``recommend_batch``'s frame.
    ratings : iterable of (movie_id, rating), optional
        Ratings of a new user, folded in (no retraining).
    k : int, default 10
        Length wanted; the list is shorter when fewer films are eligible (its ``note`` says why).
    min_ratings : int, optional
        Popularity guard (inclusive, training counts); default the model's policy.
    exclude_rated : bool, default True
        Leave out films the user rated.
    exclude : iterable of movie ids
        Further films to leave out.
    genre : str, optional
        Only films of this genre (case-insensitive); ``DataValidationError`` if no film has it.
    rank_by : {"score", "rating", "confidence"}, optional
        Default the model's policy (``RankingPolicy``; formulas in ``movierec.ranking.scoring``).
    confidence_weight : float, optional
        η >= 0 of ``rank_by="confidence"``; default the model's policy.

    Returns
    -------
    Recommendations (a list of Recommendation, best first), or a polars.DataFrame with ``users``

    Raises
    ------
    DataValidationError
        Invalid ``ratings`` (see ``Recommender.fold_in``), k < 0, an unknown ``rank_by`` or genre,
        a negative guard or η.
    UnknownIdError
        An unknown ``user``.
    """
    from movierec.errors import DataValidationError

    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise DataValidationError(f"k must be an integer >= 0, got {k!r}")
    policy = resolve_policy(model, min_ratings, rank_by, confidence_weight)
    if users is not None:
        from movierec.ranking.batch import recommend_batch

        return recommend_batch(model, users, k=k, min_ratings=policy.min_ratings, rank_by=policy.rank_by,
                               confidence_weight=policy.confidence_weight, genre=genre)  # fmt: skip
    state = user_state_for(model, user, ratings)
    index = index_for(model)
    ranked = rank_states(
        model, state, k, policy, index=index, genre=genre, exclude=exclude, exclude_rated=exclude_rated
    )
    out = describe(index, ranked, 0)
    if len(out) < k:
        out.note = why_short(ranked, state, exclude_rated, policy.min_ratings, genre)
    return out


def why_short(
    ranked: Ranked, state: UserState, exclude_rated: bool, min_ratings: int, genre: str | None, row: int = 0
) -> str:
    """Why a user's list holds fewer films than asked (the same words on every surface)."""
    what = f"at least {min_ratings} training ratings" + (f" and the genre {genre!r}" if genre else "")
    n_eligible = ranked.eligible.positions.size
    if n_eligible == 0:
        options = (("lower the guard (min_ratings)", min_ratings > 0), ("drop the genre", genre))
        fixes = [fix for fix, applies in options if applies]
        return f"no film has {what}; {' or '.join(fixes) or 'the model has no films'}"
    n = int((ranked.item_idx[row] >= 0).sum())
    rated = state.rated_items(row)[0]
    n_rated = int(np.isin(rated, ranked.eligible.positions, assume_unique=True).sum()) if exclude_rated else 0
    if n_rated and n + n_rated >= n_eligible:
        return f"the user has rated {n_rated} of the {n_eligible} films with {what}; only {n} are left to recommend"
    return f"only {n} of the {n_eligible} films with {what} can be recommended (the others were excluded)"


def describe(index: RankingIndex, ranked: Ranked, row: int) -> Recommendations:
    """One user's list as ``Recommendation`` records (``score`` = predicted rating clipped to the scale)."""
    ids, titles, counts, genres, years = index.records
    lo, hi = index.model.scale_.low, index.model.scale_.high
    out = Recommendations()
    for idx, raw, rating in zip(
        ranked.item_idx[row].tolist(), ranked.raw_score[row].tolist(), ranked.rating[row].tolist(), strict=True
    ):
        if idx < 0:
            break
        out.append(
            Recommendation(
                movie_id=ids[idx], title=titles[idx] or f"movie {ids[idx]}", score=float(min(max(rating, lo), hi)),
                raw_score=float(raw), n_ratings=int(counts[idx]), genres=list(genres[idx] or []), year=years[idx],
            )
        )  # fmt: skip
    return out


def genre_mask(model: Recommender, genre: str) -> np.ndarray:
    """Films of ``genre`` (case-insensitive), shape (n_items,), bool."""
    return index_for(model).genre_mask(genre)


def model_genres(model: Recommender) -> list[str]:
    """Every genre of the model's films, sorted."""
    return index_for(model).genres()


def frame_of(model: Recommender, user_idx: np.ndarray, ranked: Ranked) -> pl.DataFrame:
    """A block's lists as a frame: user_id, rank (1 = best), movie_id, score (clipped stars), raw_score, n_ratings."""
    ok = ranked.item_idx >= 0
    rows, ranks = np.nonzero(ok)
    items = ranked.item_idx[ok]
    lo, hi = np.float32(model.scale_.low), np.float32(model.scale_.high)
    return pl.DataFrame(
        {
            "user_id": model.users_.ids.gather(user_idx[rows]) if rows.size else model.users_.ids.head(0),
            "rank": (ranks + 1).astype(np.int32),
            "movie_id": model.items_.ids.gather(items) if items.size else model.items_.ids.head(0),
            "score": np.clip(ranked.rating[ok], lo, hi).astype(np.float32),
            "raw_score": ranked.raw_score[ok].astype(np.float32),
            "n_ratings": model.item_counts_[items].astype(np.int64),
        }
    )


__all__ = [
    "Recommendation",
    "Recommendations",
    "describe",
    "frame_of",
    "genre_mask",
    "model_genres",
    "recommend",
    "user_state_for",
    "why_short",
]
