"""The model contract: what every recommender offers the ranking layer, the store and the engines.

A fitted model knows the users and films it was trained on (id maps), each film's training rating
count, the films each training user rated, the catalogue and the rating scale. Its public surface
is small (compare ``benfred/implicit:implicit/recommender_base.py``):

* ``fit(dataset)`` — learn from a ``Dataset``; a refit starts from nothing;
* ``user_states(user_idx)`` / ``fold_in(movie_ids, ratings)`` — the state of a block of training
  users, or of a new user solved from their ratings against the fixed item side (a block of one);
* ``score_block(states, target)`` — scores of a block of users against every film, shape
  (n_block, n_items): ``target="score"`` the model's ranking score, ``"rating"`` its predicted
  rating. Most models also expose the same scores as a linear form (``linear_scores``), which
  lets the ranking layer score and select in one pass without a block × films matrix;
* ``predict(user_ids, movie_ids)`` — clipped rating predictions for pairs, cold starts flagged.

Ranking (exclusion of rated films, the popularity guard, top-k, the confidence score) lives in
``movierec.ranking``; how a model's lists are ranked by default is its ``RankingPolicy``.
A new model subclasses ``Recommender`` and implements ``_fit``, ``_user_terms``,
``_fold_in_terms``, ``_predict_idx`` and ``linear_scores`` (or ``score_block``); see
docs/architecture.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from movierec.config import RankingPolicy
from movierec.data.dataset import Dataset, RatingScale
from movierec.data.idmap import IdMap
from movierec.errors import DataValidationError, FitError, NotFittedError
from movierec.models.memory import check_fit_memory

TARGETS = ("score", "rating")
"""What ``score_block`` scores: the model's ranking score, or its predicted rating."""


@dataclass
class UserState:
    """The states of a block of users, as the model sees them (one user is a block of one).

    Attributes
    ----------
    user_idx : ndarray of shape (n_block,), int64
        Dense position of each training user; -1 for a folded-in or anonymous user.
    rated : scipy.sparse.csr_matrix of shape (n_block, n_items), float32
        Each user's ratings in stars (sorted indices): the films excluded from their lists.
    terms : dict of str -> ndarray
        The model's learned terms of each user, each of shape (n_block, ...) (e.g. ``"bias"``,
        ``"factors"``); what ``score_block`` reads.
    unknown_movie_ids : list
        Fold-in only: rated films the model has no factors for (ignored in the solve).
    """

    user_idx: np.ndarray
    rated: sp.csr_matrix
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    unknown_movie_ids: list[Any] = field(default_factory=list)

    @property
    def n_block(self) -> int:
        return int(self.user_idx.shape[0])

    def rated_items(self, row: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Item positions (int64, ascending) and ratings (float32, stars) of one user of the block."""
        s, e = self.rated.indptr[row], self.rated.indptr[row + 1]
        return self.rated.indices[s:e].astype(np.int64), self.rated.data[s:e]

    @property
    def is_cold(self) -> bool:
        """True for a block of one user of whom nothing personal is known (not a training user, no ratings)."""
        return self.n_block == 1 and self.user_idx[0] < 0 and self.rated.nnz == 0


@dataclass(frozen=True)
class LinearScores:
    """Scores of a block as a linear form: s[u, i] = user_vectors[u] · item_vectors[i] + item_offset[i] + user_offset[u]

    Attributes
    ----------
    user_vectors : ndarray of shape (n_block, d), float32, C-contiguous
    item_vectors : ndarray of shape (n_items, d), float32, C-contiguous (the model's, shared by blocks)
    item_offset : ndarray of shape (n_items,), float32
    user_offset : ndarray of shape (n_block,), float32

    ``d`` may be 0 (models without factors). Every evaluation of the form — ``dense``, ``at`` and the
    ranking layer's fused kernel — adds the dot product to ``item_offset[i] + user_offset[u]``.
    """

    user_vectors: np.ndarray
    item_vectors: np.ndarray
    item_offset: np.ndarray
    user_offset: np.ndarray

    @staticmethod
    def of(user_vectors: Any, item_vectors: Any, item_offset: Any, user_offset: Any) -> LinearScores:
        """Build with every array converted to C-contiguous float32 (no copy when it already is)."""
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
        return LinearScores(f32(user_vectors), f32(item_vectors), f32(item_offset), f32(user_offset))

    def dense(self) -> np.ndarray:
        """The block's scores, shape (n_block, n_items), float32."""
        out = self.user_vectors @ self.item_vectors.T
        out += self.item_offset[None, :] + self.user_offset[:, None]
        return out

    def at(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of (block row, item) pairs, shape (n_pairs,), float32."""
        dots = np.einsum("ij,ij->i", self.user_vectors[rows], self.item_vectors[items])
        return (dots + (self.item_offset[items] + self.user_offset[rows])).astype(np.float32)


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
    """Base class of every model: the fitted state common to all, and the scoring contract.

    Parameters
    ----------
    policy : RankingPolicy, optional
        How lists are ranked by default (guard, rank_by, η); default the class's ``default_policy``.

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
        Training ratings, rows = users, sorted indices. Never changed after ``fit``.
    fit_id_ : str
        A new value at every fit or load; derived indexes (``movierec.ranking.index``) key on it.
    fit_info_ : dict
        ``fit_seconds`` (the whole fit, every part), ``train_rmse`` where defined, model extras.
    """

    name: ClassVar[str] = "base"
    array_names: ClassVar[tuple[str, ...]] = ()
    """Learned arrays saved with the model (float32 unless documented otherwise)."""
    legacy_array_names: ClassVar[dict[str, str]] = {}
    """Names of arrays in model folders of format 1 that are saved under another name now."""
    predicts_ratings: ClassVar[bool] = True
    """False for ranking-only models (their ``predict`` is the global mean)."""
    default_policy: ClassVar[RankingPolicy] = RankingPolicy()

    def __init__(self, policy: RankingPolicy | None = None) -> None:
        self.policy = policy or self.default_policy
        self.fitted_ = False
        self.fit_info_: dict[str, Any] = {}
        self.history_: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset | Any) -> Recommender:
        """Fit the model on a dataset; a refit forgets everything from a previous fit.

        Parameters
        ----------
        dataset : Dataset, or a Polars or pandas DataFrame or Arrow table
            A frame needs the columns ``user_id``, ``movie_id``, ``rating`` (``timestamp``
            optional) and is read by ``Dataset.from_frames`` on the default 0.5-5 half-star scale;
            build the ``Dataset`` yourself for another scale or a catalogue.

        Raises
        ------
        DataValidationError
            If the dataset has no ratings or a single user, or a frame is not a table of ratings.
        FitError
            If the fitted state is not finite, or before any work when ``fit_memory`` exceeds the
            memory available (``models.memory.check_fit_memory``).
        """
        if not isinstance(dataset, Dataset):
            dataset = Dataset.from_frames(dataset, name="ratings")
        if dataset.n_ratings == 0:
            raise DataValidationError(f"{dataset.name or 'dataset'}: no ratings; cannot train on an empty dataset")
        if dataset.n_users < 2:
            raise DataValidationError(
                f"{dataset.name or 'dataset'}: only {dataset.n_users} user; "
                "training needs ratings from at least 2 users"
            )
        import time

        parts = self.fit_memory(dataset.n_users, dataset.n_items)
        if parts:
            check_fit_memory(self.name, dataset.n_users, dataset.n_items, parts)
        self.fitted_ = False
        self.fit_info_ = {}
        t0 = time.perf_counter()
        self._adopt_data(dataset)
        self._fit(dataset)
        self._finish_fit()
        self.fit_info_["fit_seconds"] = time.perf_counter() - t0
        return self

    def fit_memory(self, n_users: int, n_items: int) -> dict[str, int]:
        """Estimated peak bytes of ``_fit`` by part (``models.memory``), checked before fitting; {} when small."""
        return {}

    def _adopt_data(self, dataset: Dataset) -> None:
        """Set the shared fitted state (id maps, rating matrix, counts) from the dataset."""
        u, i, r = dataset.arrays()
        self.users_ = dataset.users
        self.items_ = dataset.items
        self.movies_ = dataset.movies
        self.scale_ = dataset.scale
        self.global_mean_ = float(np.mean(r, dtype=np.float64))
        ui = sp.csr_matrix((r, (u, i)), shape=(dataset.n_users, dataset.n_items), dtype=np.float32)
        ui.sort_indices()
        self.user_items_ = ui
        self.item_counts_ = np.bincount(i, minlength=dataset.n_items).astype(np.int64)  # rows are unique pairs
        self.data_fingerprint_ = dataset.fingerprint()

    def _share_data(self, owner: Recommender) -> None:
        """Take the shared fitted state of ``owner`` by reference (a part of a composed model)."""
        for name in (
            "users_",
            "items_",
            "movies_",
            "scale_",
            "global_mean_",
            "user_items_",
            "item_counts_",
            "data_fingerprint_",
        ):
            setattr(self, name, getattr(owner, name))

    def _finish_fit(self) -> None:
        """Mark fitted after ``_fit`` or a load: derive serving arrays, check finiteness, new ``fit_id_``."""
        self._prepare()
        self.fitted_ = True
        self.fit_id_ = uuid.uuid4().hex
        self.check_finite()

    def _fit(self, dataset: Dataset) -> None:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Compute arrays derived from the learned ones (not saved), after a fit or a load."""

    def check_finite(self) -> None:
        """Raise ``FitError`` if any learned array holds NaN or inf (never saved or served)."""
        for name, arr in self.arrays().items():
            if not np.all(np.isfinite(arr)):
                bad = int(np.size(arr) - np.isfinite(arr).sum())
                raise FitError(
                    f"{self.name}: {bad} non-finite values in {name} after fitting; increase reg or lower n_factors"
                )

    def arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays to save, by name."""
        return {name: getattr(self, name) for name in self.array_names}

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the learned arrays saved by ``arrays`` (``KeyError`` if one is missing)."""
        for name in self.array_names:
            setattr(self, name, arrays[name])

    def _require_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load a saved model")

    # ------------------------------------------------------------ contract
    @property
    def n_users(self) -> int:
        return len(self.users_)

    @property
    def n_items(self) -> int:
        return len(self.items_)

    def user_states(self, user_idx: np.ndarray | list[int]) -> UserState:
        """States of training users by dense position (a block).

        Raises
        ------
        DataValidationError
            If a position is outside 0 … n_users − 1.
        """
        self._require_fitted()
        idx = np.asarray(user_idx, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_users):
            raise DataValidationError(f"user positions must be in 0 … {self.n_users - 1}")
        return UserState(idx, self.user_items_[idx], self._user_terms(idx))

    def user_state(self, user_id: Any) -> UserState:
        """The state of one training user by external id (a block of one).

        Raises
        ------
        UnknownIdError
            If the user was not in the training data.
        """
        self._require_fitted()
        return self.user_states([self.users_.index(user_id)])

    def fold_in(
        self,
        movie_ids: list[Any] | np.ndarray,
        ratings: list[float] | np.ndarray,
        timestamps: list[int] | np.ndarray | None = None,
    ) -> UserState:
        """Solve a new user's terms from their ratings, items held fixed (no retraining).

        The solve is the training half-step for one row: the same objective, the same kernel.
        No ratings gives the cold state (the model's user with nothing known).

        Parameters
        ----------
        movie_ids : sequence of external movie ids, length n
        ratings : sequence of float, length n, in stars on the model's scale
        timestamps : sequence of int, optional, UTC epoch seconds

        Returns
        -------
        UserState
            A block of one. Films unknown to the model are ignored for the solve (they have no
            factors) and listed in ``unknown_movie_ids``.

        Raises
        ------
        DataValidationError
            If lengths differ, a rating is not finite or is outside the scale, or a film is rated twice.
        """
        self._require_fitted()
        ids = list(movie_ids)
        vals = np.asarray(ratings, dtype=np.float64).reshape(-1)
        if len(ids) != len(vals):
            raise DataValidationError(f"fold_in: {len(ids)} movie ids but {len(vals)} ratings")
        if timestamps is not None and len(timestamps) != len(ids):
            raise DataValidationError(f"fold_in: {len(ids)} movie ids but {len(timestamps)} timestamps")
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
        order = np.argsort(pos[known], kind="stable")
        items = pos[known][order]
        values = vals[known][order].astype(np.float32)
        ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)[known][order]
        rated = sp.csr_matrix((values, items.astype(np.int32), np.array([0, items.size])), shape=(1, self.n_items))
        terms = self._fold_in_terms(items, values, ts)
        unknown = [m for m, k in zip(ids, known, strict=True) if not k]
        return UserState(np.array([-1], dtype=np.int64), rated, terms, unknown)

    def cold_state(self) -> UserState:
        """The state of a user of whom nothing is known (``fold_in`` of no ratings)."""
        return self.fold_in([], [])

    def _user_terms(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        """The learned terms of training users (subclass hook; none by default)."""
        return {}

    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """A new user's terms solved from ratings of known items (sorted positions; may be empty), each (1, ...)."""
        return {}

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores | None:
        """The block's scores as a linear form (``LinearScores``), or None for models that have none.

        ``target`` is "score" (the ranking score) or "rating" (the unclipped predicted rating). Ranking-only
        models score "rating" as "score".
        """
        return None

    def score_block(self, states: UserState, target: str = "score") -> np.ndarray:
        """Scores of a block of users against every film, shape (n_block, n_items), float32, unclipped.

        Raises
        ------
        DataValidationError
            If ``target`` is not one of ``TARGETS``.
        """
        self._require_fitted()
        _check_target(target)
        form = self.linear_scores(states, target)
        if form is None:
            raise NotImplementedError(f"{type(self).__name__} implements neither linear_scores nor score_block")
        return form.dense()

    def predict(
        self,
        user_ids: list[Any] | np.ndarray,
        movie_ids: list[Any] | np.ndarray,
        timestamps: list[int] | np.ndarray | None = None,
    ) -> Predictions:
        """Predicted ratings for (user, movie) pairs given as external ids.

        Unknown users or films get the documented cold-start fallback and are flagged; the result
        never holds NaN.

        Parameters
        ----------
        user_ids, movie_ids : sequences of external ids, length n_pairs
        timestamps : sequence of int, optional
            UTC epoch seconds of each pair, used by time-aware models (default: the end of the
            training data, "now").

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

    def predict_idx(self, user_idx: np.ndarray, item_idx: np.ndarray, timestamps: Any = None) -> np.ndarray:
        """Raw predictions for dense positions (-1 marks an unknown user or item), shape (n_pairs,), float32, finite."""
        self._require_fitted()
        u = np.asarray(user_idx, dtype=np.int64)
        i = np.asarray(item_idx, dtype=np.int64)
        t = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        out = self._predict_idx(u, i, t)
        return np.nan_to_num(np.asarray(out, dtype=np.float32), nan=self.global_mean_)

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        """Raw predictions at times ``t`` (None = now); models without time effects ignore ``t``."""
        return np.full(u.shape, self.global_mean_, dtype=np.float64)

    # ------------------------------------------------------------ config
    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> Recommender:
        """A new, unfitted model from a config dict (as written by ``config_dict``)."""
        if config:
            raise DataValidationError(f"{cls.name} takes no parameters, got {sorted(config)}")
        return cls(policy=policy)

    def config_dict(self) -> dict[str, Any]:
        """Hyperparameters as a JSON-ready dict (the ranking policy is separate: ``policy``)."""
        return {}

    def item_table(self) -> pl.DataFrame:
        """Per-item frame: item_idx, movie_id, n_ratings, joined with the catalogue; row i is item position i."""
        self._require_fitted()
        base = pl.DataFrame(
            {
                "item_idx": np.arange(self.n_items, dtype=np.int32),
                "movie_id": self.items_.ids,
                "n_ratings": self.item_counts_,
            }
        )
        # A join's row order is unspecified in Polars ("none" by default): sort back to positions.
        return base.join(self.movies_, on="movie_id", how="left").sort("item_idx")


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise DataValidationError(f"target must be one of {', '.join(TARGETS)}; got {target!r}")


__all__ = ["LinearScores", "Predictions", "RatingScale", "Recommender", "TARGETS", "UserState", "IdMap"]
