"""The ``Recommender`` protocol shared by ALS and every baseline.

A fitted recommender knows: the users and films it was trained on (id maps),
each film's training rating count, the films each known user rated, the
catalogue, and the rating scale. It scores a user state against all items;
ranking (exclusion, popularity guard, top-k) lives in ``movierec.ranking``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from movierec.data.dataset import Dataset, RatingScale
from movierec.data.idmap import IdMap
from movierec.errors import DataValidationError, FitError, NotFittedError

T = TypeVar("T")


@dataclass
class UserState:
    """What a model knows about one user, known or folded in.

    Attributes
    ----------
    user_idx : int
        Dense position of a training user, or -1 for a folded-in / anonymous user.
    rated_idx : ndarray of shape (n_rated,), int64
        Item positions the user has rated (excluded from recommendations).
    rated_values : ndarray of shape (n_rated,), float32
        The user's ratings of those items, in stars.
    bias : float
        The user's bias b_u in stars (0 for models without one).
    factors : ndarray of shape (n_factors,), float32, or None
        The user's latent factors p_u (None for models without factors).
    extra : dict
        Model-specific terms (e.g. temporal drift).
    """

    user_idx: int
    rated_idx: np.ndarray
    rated_values: np.ndarray
    bias: float = 0.0
    factors: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_cold(self) -> bool:
        """True when nothing personal is known (no ratings of known films)."""
        return self.user_idx < 0 and self.rated_idx.size == 0


@dataclass
class Predictions:
    """Rating predictions for (user, movie) pairs.

    Attributes
    ----------
    rating : ndarray of shape (n_pairs,), float32
        Predicted stars, clipped to the rating scale (never NaN).
    raw : ndarray of shape (n_pairs,), float32
        The model's unclipped estimate.
    cold_start : ndarray of shape (n_pairs,), bool
        True where the user or the film was unknown and a fallback was used
        (μ + b_i for an unknown user, μ + b_u for an unknown film, μ for both).
    """

    rating: np.ndarray
    raw: np.ndarray
    cold_start: np.ndarray


class Recommender:
    """Base class of every model: fitted state common to all, and the scoring protocol.

    Subclasses implement ``_fit``, ``_score``, ``_fold_in`` and ``_predict_idx``
    and list their learned arrays in ``array_names``.

    Attributes
    ----------
    users_ : IdMap
        Training users.
    items_ : IdMap
        Training films (those with at least one training rating).
    movies_ : polars.DataFrame
        The catalogue (movie_id, title, year, genres).
    item_counts_ : ndarray of shape (n_items,), int64
        Training ratings per film (after duplicate handling).
    global_mean_ : float
        Mean training rating μ in stars.
    scale_ : RatingScale
        Rating scale predictions are clipped to.
    user_items_ : scipy.sparse.csr_matrix of shape (n_users, n_items), float32
        Training ratings, rows = users.
    """

    name: ClassVar[str] = "base"
    array_names: ClassVar[tuple[str, ...]] = ()
    predicts_ratings: ClassVar[bool] = True
    """False for ranking-only models (their ``predict`` is the global mean)."""

    def __init__(self) -> None:
        self.fitted_ = False
        self.fit_info_: dict[str, Any] = {}

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset) -> Recommender:
        """Fit the model on a dataset.

        Raises
        ------
        DataValidationError
            If the dataset has no ratings or a single user.
        FitError
            If the fitted state is not finite.
        """
        if dataset.n_ratings == 0:
            raise DataValidationError(f"{dataset.name or 'dataset'}: no ratings; cannot train on an empty dataset")
        if dataset.n_users < 2:
            raise DataValidationError(
                f"{dataset.name or 'dataset'}: only {dataset.n_users} user; training needs ratings from at least 2 users"
            )
        self.__dict__.pop("_derived", None)  # values derived from a previous fit
        u, i, r = dataset.arrays()
        self.users_ = dataset.users
        self.items_ = dataset.items
        self.movies_ = dataset.movies
        self.scale_ = dataset.scale
        self.global_mean_ = float(np.mean(r, dtype=np.float64))
        self.user_items_ = sp.csr_matrix((r, (u, i)), shape=(dataset.n_users, dataset.n_items), dtype=np.float32)
        self.user_items_.sort_indices()
        self.item_counts_ = np.bincount(i, minlength=dataset.n_items).astype(np.int64)  # rows are unique pairs
        self.data_fingerprint_ = dataset.fingerprint()
        self._fit(dataset)
        self.__dict__.pop("_derived", None)  # and any built during the fit (a callback that ranked)
        self.fitted_ = True
        self.check_finite()
        return self

    def _fit(self, dataset: Dataset) -> None:
        raise NotImplementedError

    def check_finite(self) -> None:
        """Raise ``FitError`` if any learned array holds NaN or inf (case C12)."""
        for name in self.array_names:
            arr = getattr(self, name)
            if not np.all(np.isfinite(arr)):
                bad = int(np.size(arr) - np.isfinite(arr).sum())
                raise FitError(
                    f"{self.name}: {bad} non-finite values in {name} after fitting; "
                    "increase reg or lower n_factors"
                )

    def cached(self, key: Any, build: Callable[[], T]) -> T:
        """A value derived from the fitted state (item baseline, catalogue records, ...), built once.

        ``fit`` clears these before and after ``_fit``, so a refitted model never serves values
        of its previous fit or of half-trained arrays (a callback that ranks during the fit).
        Fitted arrays must not be changed in place afterwards.
        """
        store = self.__dict__.setdefault("_derived", {})
        if key not in store:
            store[key] = build()
        return store[key]

    def _require_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load a saved model")

    # ------------------------------------------------------------ protocol
    @property
    def n_users(self) -> int:
        return len(self.users_)

    @property
    def n_items(self) -> int:
        return len(self.items_)

    def user_state(self, user_id: Any) -> UserState:
        """State of a training user by external id.

        Raises
        ------
        UnknownIdError
            If the user was not in the training data.
        """
        self._require_fitted()
        u = self.users_.index(user_id)
        return self._known_state(u)

    def _known_state(self, u: int) -> UserState:
        row = self.user_items_
        s, e = row.indptr[u], row.indptr[u + 1]
        state = UserState(u, row.indices[s:e].astype(np.int64), row.data[s:e].copy())
        self._fill_known(state)
        return state

    def _fill_known(self, state: UserState) -> None:
        """Set the model's learned terms of a training user on ``state``."""

    def fold_in(
        self,
        movie_ids: list[Any] | np.ndarray,
        ratings: list[float] | np.ndarray,
        timestamps: list[int] | np.ndarray | None = None,
    ) -> UserState:
        """Solve a new user's terms from their ratings, items held fixed (no retraining).

        Parameters
        ----------
        movie_ids : sequence of external movie ids, length n
        ratings : sequence of float, length n, in stars on the model's scale
        timestamps : sequence of int, optional, UTC epoch seconds

        Returns
        -------
        UserState
            Films unknown to the model are ignored for the solve (they have no
            factors) but reported in ``state.extra["unknown_movie_ids"]``.

        Raises
        ------
        DataValidationError
            If lengths differ, a rating is not finite or is outside the scale,
            or a film is rated twice.
        """
        self._require_fitted()
        ids = list(movie_ids)
        vals = np.asarray(ratings, dtype=np.float64)
        if len(ids) != len(vals):
            raise DataValidationError(f"fold_in: {len(ids)} movie ids but {len(vals)} ratings")
        if len(set(ids)) != len(ids):
            raise DataValidationError("fold_in: a film is rated more than once; send one rating per film")
        bad = ~np.isfinite(vals) | (vals < self.scale_.low) | (vals > self.scale_.high)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"fold_in: rating {float(vals[j])} for movie {ids[j]!r} is outside {self.scale_.describe()}"
            )
        pos = self.items_.positions(ids)
        known = pos >= 0
        ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)[known]
        state = UserState(-1, pos[known], vals[known].astype(np.float32))
        state.extra["unknown_movie_ids"] = [m for m, k in zip(ids, known) if not k]
        if state.rated_idx.size:
            self._fold_in(state, ts)
        return state

    def _fold_in(self, state: UserState, timestamps: np.ndarray | None) -> None:
        """Fill ``state`` from its rated_idx / rated_values (subclass hook)."""

    def score(self, state: UserState) -> np.ndarray:
        """Raw ranking score of every item for a user.

        Returns
        -------
        ndarray of shape (n_items,), float32
            Higher is better. For rating models this is the unclipped
            predicted rating; ranking never clips (case C14).
        """
        self._require_fitted()
        return self._score(state)

    def _score(self, state: UserState) -> np.ndarray:
        raise NotImplementedError

    def rating_scores(self, state: UserState) -> np.ndarray:
        """Predicted rating (unclipped) of every item, shape (n_items,), float32.

        Equal to ``score`` for rating models; models that rank by something
        else (``hybrid``) override it with their rating component.
        """
        return self.score(state)

    def predict(
        self,
        user_ids: list[Any] | np.ndarray,
        movie_ids: list[Any] | np.ndarray,
        timestamps: list[int] | np.ndarray | None = None,
    ) -> Predictions:
        """Predicted ratings for (user, movie) pairs given as external ids.

        Unknown users or films get the documented cold-start fallback and are
        flagged (case C15); the result never holds NaN.

        Parameters
        ----------
        user_ids, movie_ids : sequences of external ids, length n_pairs
        timestamps : sequence of int, optional
            UTC epoch seconds of each pair, used by time-aware models
            (default: the end of the training data, "now").

        Raises
        ------
        DataValidationError
            If the sequences differ in length.
        """
        self._require_fitted()
        users = list(user_ids)
        movies = list(movie_ids)
        if len(users) != len(movies) or (timestamps is not None and len(timestamps) != len(users)):
            raise DataValidationError(f"predict: {len(users)} users, {len(movies)} movies"
                                      + ("" if timestamps is None else f", {len(timestamps)} timestamps"))  # fmt: skip
        u = self.users_.positions(users)
        i = self.items_.positions(movies)
        raw = self.predict_idx(u, i, timestamps)
        rating = np.clip(raw, self.scale_.low, self.scale_.high).astype(np.float32)
        return Predictions(rating, raw, (u < 0) | (i < 0))

    def predict_idx(self, user_idx: np.ndarray, item_idx: np.ndarray, timestamps: np.ndarray | None = None) -> np.ndarray:
        """Raw predictions for dense positions; -1 marks an unknown user or item.

        Returns
        -------
        ndarray of shape (n_pairs,), float32, finite
        """
        self._require_fitted()
        u = np.asarray(user_idx, dtype=np.int64)
        i = np.asarray(item_idx, dtype=np.int64)
        t = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        out = self._predict_at(u, i, t)
        return np.nan_to_num(out.astype(np.float32), nan=self.global_mean_)

    def _predict_at(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        """Raw predictions at times ``t``; models without time effects ignore ``t``."""
        return self._predict_idx(u, i)

    def _predict_idx(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Recommender:
        """A new, unfitted model from a config dict (as written by ``config_dict``)."""
        if config:
            raise DataValidationError(f"{cls.name} takes no parameters, got {sorted(config)}")
        return cls()

    def config_dict(self) -> dict[str, Any]:
        """Hyperparameters as a JSON-ready dict."""
        return {}

    def item_table(self) -> pl.DataFrame:
        """Per-item frame: item_idx, movie_id, n_ratings, joined with the catalogue; row i is item position i.

        Callers index its columns by item position (``describe``, explanations, genre masks).
        """
        self._require_fitted()
        base = pl.DataFrame(
            {"item_idx": np.arange(self.n_items, dtype=np.int32), "movie_id": self.items_.ids, "n_ratings": self.item_counts_}
        )
        # A join's row order is unspecified in Polars ("none" by default): sort back to positions.
        return base.join(self.movies_, on="movie_id", how="left").sort("item_idx")


__all__ = ["Recommender", "UserState", "Predictions", "RatingScale", "IdMap"]
