"""Baselines that every protocol runs beside ALS: global mean, damped biases, most popular, random.

Each is a ``Recommender``: same ``fit`` / ``fold_in`` / ``score`` / ``predict``,
so the evaluation harness and the ranking layer treat them exactly like ALS.

References
----------
Koren. "Factor in the neighbors: scalable and accurate collaborative filtering".
ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
Cremonesi, Koren, Turrin. "Performance of recommender algorithms on top-N
recommendation tasks". RecSys 2010. doi:10.1145/1864708.1864721
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from movierec.config import RankingPolicy
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.models.base import LinearScores, Recommender, UserState


def _check_keys(name: str, config: dict[str, Any], allowed: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise DataValidationError(f"{name}: unknown config keys {unknown}; allowed: {sorted(allowed)}")
    return {**allowed, **config}


class GlobalMean(Recommender):
    """Predicts the mean training rating μ for every pair.

    r̂(u, i) = μ. Every item gets the same ranking score, so in a ranking
    evaluation it expresses no preference at all (see the tie rule of
    ``movierec.evaluation.metrics.rank_items``: ties never flatter a model).

    Attributes
    ----------
    global_mean_ : float, stars
    """

    name: ClassVar[str] = "mean"

    def _fit(self, dataset: Dataset) -> None:
        self.fit_info_ = {"global_mean": self.global_mean_}

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores:
        n = states.n_block
        mu = np.full(self.n_items, self.global_mean_)
        return LinearScores.of(np.zeros((n, 0)), np.zeros((self.n_items, 0)), mu, np.zeros(n))


class Bias(Recommender):
    """Damped user and item biases (Koren 2010, section 2.1).

    r̂(u, i) = μ + b_u + b_i with, computed once in this order,

        b_i = Σ_{u ∈ R(i)} (r_ui − μ) / (item_damping + |R(i)|)
        b_u = Σ_{i ∈ R(u)} (r_ui − μ − b_i) / (user_damping + |R(u)|)

    The damping shrinks the bias of a film (user) with few ratings towards 0.
    Fold-in applies the b_u formula to the new user's ratings of known films.
    Unknown user: μ + b_i; unknown film: μ + b_u; both: μ (flagged cold-start
    by ``predict``).

    Parameters
    ----------
    item_damping : float, default 25
        λ2 of Koren 2010 (stars are pulled towards μ by this many pseudo-ratings). Must be >= 0.
    user_damping : float, default 10
        λ3 of Koren 2010. Must be >= 0.

    Attributes
    ----------
    user_bias_ : ndarray of shape (n_users,), float32, stars
    item_bias_ : ndarray of shape (n_items,), float32, stars

    Raises
    ------
    DataValidationError
        From ``from_config`` for an unknown key or a negative damping.

    References
    ----------
    Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
    """

    name: ClassVar[str] = "bias"
    array_names: ClassVar[tuple[str, ...]] = ("user_bias_", "item_bias_")
    defaults: ClassVar[dict[str, Any]] = {"item_damping": 25.0, "user_damping": 10.0}

    def __init__(
        self, item_damping: float = 25.0, user_damping: float = 10.0, policy: RankingPolicy | None = None
    ) -> None:
        super().__init__(policy)
        if not (item_damping >= 0 and user_damping >= 0):
            raise DataValidationError(
                f"bias: dampings must be >= 0, got item_damping={item_damping!r}, user_damping={user_damping!r}"
            )
        self.item_damping = float(item_damping)
        self.user_damping = float(user_damping)

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> Bias:
        return cls(**_check_keys(cls.name, config, cls.defaults), policy=policy)

    def config_dict(self) -> dict[str, Any]:
        return {"item_damping": self.item_damping, "user_damping": self.user_damping}

    def _fit(self, dataset: Dataset) -> None:
        ui = self.user_items_.tocoo()
        dev = ui.data.astype(np.float64) - self.global_mean_
        n_i = np.bincount(ui.col, minlength=self.n_items)
        self.item_bias_ = (np.bincount(ui.col, dev, self.n_items) / (self.item_damping + n_i)).astype(np.float32)
        n_u = np.bincount(ui.row, minlength=self.n_users)
        res = dev - self.item_bias_[ui.col]
        self.user_bias_ = (np.bincount(ui.row, res, self.n_users) / (self.user_damping + n_u)).astype(np.float32)
        self.fit_info_ = {"global_mean": self.global_mean_}

    def _user_terms(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        return {"bias": self.user_bias_[user_idx]}

    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        res = values.astype(np.float64) - self.global_mean_ - self.item_bias_[items]
        return {"bias": np.array([res.sum() / (self.user_damping + res.size)], dtype=np.float32)}

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores:
        n = states.n_block
        return LinearScores.of(
            np.zeros((n, 0)), np.zeros((self.n_items, 0)), self.global_mean_ + self.item_bias_, states.terms["bias"]
        )

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        out = np.full(u.shape, self.global_mean_, dtype=np.float64)
        out[u >= 0] += self.user_bias_[u[u >= 0]]
        out[i >= 0] += self.item_bias_[i[i >= 0]]
        return out


class MostPopular(Recommender):
    """Ranks films by their number of training ratings; the same list for everyone.

    score(u, i) = |R(i)| (films the user rated are excluded by the ranking
    layer). Not a rating model: ``predict`` returns μ for every pair and
    ``predicts_ratings`` is False, so reports leave its RMSE out.
    """

    name: ClassVar[str] = "popular"
    predicts_ratings: ClassVar[bool] = False

    def _fit(self, dataset: Dataset) -> None:
        self.fit_info_ = {}

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores:
        n = states.n_block
        return LinearScores.of(np.zeros((n, 0)), np.zeros((self.n_items, 0)), self.item_counts_, np.zeros(n))


class Random(Recommender):
    """Random scores and ratings: the floor every model must beat.

    Ranking: each user's scores are uniform on [0, 1), drawn from a generator
    seeded by (random_state, user_idx) for a training user or by
    (random_state, sorted rated films) for a folded-in one, so a user's list is
    reproducible. Ratings: N(μ, σ²) with σ the standard deviation of the
    training ratings (as Surprise's ``NormalPredictor``), seeded by
    (random_state, a hash of the requested pairs) so the same request gives the
    same draws, clipped to the scale by ``predict``.

    Parameters
    ----------
    random_state : int, default 42
    """

    name: ClassVar[str] = "random"

    def __init__(self, random_state: int = 42, policy: RankingPolicy | None = None) -> None:
        super().__init__(policy)
        self.random_state = int(random_state)

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> Random:
        return cls(**_check_keys(cls.name, config, {"random_state": 42}), policy=policy)

    def config_dict(self) -> dict[str, Any]:
        return {"random_state": self.random_state}

    def _fit(self, dataset: Dataset) -> None:
        self.fit_info_ = {}

    def _rating_std(self) -> float:
        data = self.user_items_.data
        return float(np.std(data, dtype=np.float64)) if data.size else 0.0

    def score_block(self, states: UserState, target: str = "score") -> np.ndarray:
        out = np.empty((states.n_block, self.n_items), dtype=np.float32)
        for row, u in enumerate(states.user_idx.tolist()):
            key = [self.random_state, u] if u >= 0 else [self.random_state, 2**31, *states.rated_items(row)[0].tolist()]
            out[row] = np.random.default_rng(key).random(self.n_items, dtype=np.float32)
        return out

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        # One generator per call keyed by the pairs: the same pairs give the same draws.
        h = (u.astype(np.uint64) * np.uint64(1_000_003) + i.astype(np.uint64)) % np.uint64(2**63)
        key = [self.random_state, int(np.bitwise_xor.reduce(h)) if h.size else 0, int(h.size)]
        noise = np.random.default_rng(key).standard_normal(u.shape)
        return self.global_mean_ + self._rating_std() * noise


BASELINES: dict[str, type[Recommender]] = {
    "mean": GlobalMean,
    "bias": Bias,
    "popular": MostPopular,
    "random": Random,
}

__all__ = ["BASELINES", "Bias", "GlobalMean", "MostPopular", "Random"]
