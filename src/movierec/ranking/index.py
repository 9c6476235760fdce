"""The ranking side's view of a fitted model: the arrays ranking derives from it, built once per fit.

A ``RankingIndex`` holds what every list of a model needs and the model does not: the catalogue
as Python lists (to describe recommendations), the eligible films per guard and genre, the
evidence bonus η·ln(1 + n_i), the cold user's rating form (the confidence score's baseline) and
the eligible films' rows of each linear form's item vectors. ``index_for(model)`` returns the
model's index, rebuilt when the model is refitted or reloaded (its ``fit_id_`` changes); the
service keeps the index of the version it serves. Models never hand out caches.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from movierec.data.movielens import normalise_genre
from movierec.errors import DataValidationError
from movierec.models.base import LinearScores, Recommender
from movierec.ranking.topk import Eligible


class RankingIndex:
    """Derived serving arrays of one fitted model (see the module docstring).

    Parameters
    ----------
    model : fitted Recommender
    """

    def __init__(self, model: Recommender) -> None:
        model._require_fitted()
        self.model = model
        self.fit_id = model.fit_id_
        self._lock = threading.Lock()
        self._eligible: dict[tuple[int, str | None, str], Eligible] = {}
        self._vectors: dict[tuple[int, int], tuple[np.ndarray, Eligible, np.ndarray]] = {}
        self._bonus: dict[float, np.ndarray] = {}
        self._genres: dict[str, np.ndarray] = {}
        self._cold_rating: Any = None
        table = model.item_table()
        self.records = tuple(table[c].to_list() for c in ("movie_id", "title", "n_ratings", "genres", "year"))
        """The catalogue as lists by item position: ids, titles, counts, genres, years."""
        self.counts = np.asarray(model.item_counts_, dtype=np.int64)

    # ---------------------------------------------------------------- films
    def genres(self) -> list[str]:
        """Every genre of the model's films, sorted (what ``genre_mask`` can match)."""
        return sorted({g for gs in self.records[3] for g in (gs or [])})

    def genre_mask(self, genre: str) -> np.ndarray:
        """Films of ``genre`` (case-insensitive, MovieLens spellings normalised), shape (n_items,), bool."""
        key = normalise_genre(genre).casefold()
        with self._lock:
            if key not in self._genres:
                self._genres[key] = np.array(
                    [any(normalise_genre(g).casefold() == key for g in (gs or [])) for gs in self.records[3]]
                )
            return self._genres[key]

    def eligible(
        self, min_ratings: int, genre: str | None = None, exclude: np.ndarray | None = None, ties: str = "serve"
    ) -> Eligible:
        """The films a list may hold: ``n_ratings >= min_ratings``, of ``genre`` if given, not in ``exclude``.

        ``ties="serve"`` breaks ties by more training ratings (the serving rule); ``"pessimistic"``
        gives every film the same tie key, for evaluation with demoted held-out films.

        Raises
        ------
        DataValidationError
            If ``genre`` is given and no film of the model has it.
        """
        key = (int(min_ratings), None if not genre else normalise_genre(genre).casefold(), ties)
        if exclude is None or exclude.size == 0:
            with self._lock:
                found = self._eligible.get(key)
            if found is not None:
                return found
        mask = self.counts >= int(min_ratings)
        if genre:
            genre_mask = self.genre_mask(genre)
            if not genre_mask.any():
                raise DataValidationError(
                    f"genre: no film of the model has the genre {genre!r}; "
                    f"its genres: {', '.join(self.genres()) or 'none'}"
                )
            mask = mask & genre_mask
        tie = self.counts if ties == "serve" else np.zeros_like(self.counts)
        if exclude is not None and exclude.size:
            mask = mask.copy()
            mask[exclude] = False
            return Eligible.from_mask(mask, tie)
        made = Eligible.from_mask(mask, tie)
        with self._lock:
            return self._eligible.setdefault(key, made)

    def eligible_vectors(self, form: LinearScores, eligible: Eligible) -> np.ndarray:
        """``form.item_vectors[eligible.positions]``, kept per (item vector array, eligible set)."""
        key = (id(form.item_vectors), id(eligible))
        with self._lock:
            hit = self._vectors.get(key)
        if hit is not None and hit[0] is form.item_vectors and hit[1] is eligible:
            return hit[2]
        rows = np.ascontiguousarray(form.item_vectors[eligible.positions])
        with self._lock:
            if len(self._vectors) >= 32:  # one-off sets (exclusion lists): keep the memory bounded
                self._vectors.clear()
            self._vectors[key] = (form.item_vectors, eligible, rows)
        return rows

    # --------------------------------------------------------------- scores
    def evidence_bonus(self, confidence_weight: float) -> np.ndarray:
        """η · ln(1 + n_i) of every film, shape (n_items,), float32."""
        w = float(confidence_weight)
        with self._lock:
            if w not in self._bonus:
                self._bonus[w] = (np.float32(w) * np.log1p(self.counts.astype(np.float32))).astype(np.float32)
            return self._bonus[w]

    def cold_rating(self) -> LinearScores | np.ndarray:
        """The rating form (or dense rating row) of a user with no ratings: r̂_∅i, the confidence score's baseline."""
        if self._cold_rating is None:
            cold = self.model.cold_state()
            form = self.model.linear_scores(cold, "rating")
            self._cold_rating = form if form is not None else self.model.score_block(cold, "rating")
        return self._cold_rating


_INDEXES: weakref.WeakKeyDictionary[Recommender, RankingIndex] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()


def index_for(model: Recommender) -> RankingIndex:
    """The ``RankingIndex`` of a fitted model, built on first use and again after every fit or load."""
    model._require_fitted()
    with _INDEX_LOCK:
        index = _INDEXES.get(model)
    if index is None or index.fit_id != model.fit_id_:
        index = RankingIndex(model)
        with _INDEX_LOCK:
            _INDEXES[model] = index
    return index


__all__ = ["RankingIndex", "index_for"]
