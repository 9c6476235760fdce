"""The default recommender: what a user will choose to watch, and how much they will like it.

Ranking score for user u and film i::

    s(u, i) = (x_u − γ · x̄) · y_i  +  rating_weight · w_i · (r̂_ui − (μ + b_u)) / (r_max − r_min)

* x_u · y_i — implicit-feedback ALS on the rating events (Hu, Koren, Volinsky
  2008): the preference to watch i. Ratings below ``negative_below`` stars are
  "watched and disliked" (preference 0, see ``ImplicitConfig``).
* γ · x̄ · y_i — x̄ is the mean training user's implicit factor, so x̄ · y_i is
  how much the average user would pick i. Subtracting a share γ
  (``popularity_debias``) ranks by what this user wants *more than everyone
  does*: the blockbusters every profile co-watches stop crowding out the
  user's own taste (the popularity-bias correction of Steck, "Item popularity
  and recommendation accuracy", RecSys 2011, doi:10.1145/2043932.2043957,
  applied in factor space).
* r̂_ui = μ + b_u + b_i + p_u · q_i — explicit biased ALS (ALS-WR, Zhou et al.
  2008): the predicted rating; its deviation from the user's own baseline says
  how much more (or less) than usual u will like i.
* w_i = n_i / (n_i + shrinkage) — confidence in film i's evidence, from its
  number of training ratings n_i: the damped-estimate rule of Koren 2010
  ("Factor in the neighbors", §2.1). A film with one 5-star rating gets almost
  no credit for its rating deviation — the confidence-aware popularity guard —
  while a hard ``min_ratings`` cut stays available on top.

Predicted ratings (``predict``) are the explicit model's, unchanged.

References
----------
Hu, Koren, Volinsky. ICDM 2008. doi:10.1109/ICDM.2008.22
Zhou et al. AAIM 2008. doi:10.1007/978-3-540-68880-8_32
Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from movierec.config import ALSConfig, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.models.als import ALS
from movierec.models.base import UserState
from movierec.models.implicit import ImplicitConfig, fit_implicit, fold_in_implicit, gram_matrix


@dataclass(frozen=True)
class HybridConfig:
    """Hyperparameters of the hybrid recommender: its two parts and how they combine.

    Attributes
    ----------
    explicit : ALSConfig
        The rating model (its ``min_ratings`` is ignored; see below).
    implicit : ImplicitConfig
        The choice model (its ``min_ratings`` is ignored).
    rating_weight : float, default 0.3
        Weight of the shrunk rating deviation against the implicit score.
    shrinkage : float, default 10.0
        Prior count of the confidence weight w_i = n_i / (n_i + shrinkage).
    popularity_debias : float, default 0.2
        γ in [0, 1]: share of the average user's preference subtracted.
    min_ratings : int, default 5
        Hard popularity guard of recommendations (inclusive).

    The defaults were selected by ``benchmarks/hybrid_selection.py`` on
    validation splits carved from the *training* side only (ml-100k
    stratified, ml-latest-small last-5), by summed relative NDCG@10, among
    settings that keep the demo profile's list on taste; the grid and the
    numbers are in benchmarks/README.md.
    """

    explicit: ALSConfig = ALSConfig()
    implicit: ImplicitConfig = ImplicitConfig(reg=0.2, alpha=3.0, negative_below=3.0)
    rating_weight: float = 0.3
    shrinkage: float = 10.0
    popularity_debias: float = 0.2
    min_ratings: int = 5

    def __post_init__(self) -> None:
        if not self.rating_weight >= 0 or not self.shrinkage >= 0:
            raise DataValidationError(f"rating_weight and shrinkage must be >= 0, got {self.rating_weight}, {self.shrinkage}")
        if not 0 <= self.popularity_debias <= 1:
            raise DataValidationError(f"popularity_debias must be in [0, 1], got {self.popularity_debias}")
        if not isinstance(self.min_ratings, int) or self.min_ratings < 0:
            raise DataValidationError(f"min_ratings must be an integer >= 0, got {self.min_ratings!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HybridConfig:
        """Build from a dict (sub-configs as dicts), refusing unknown keys (``DataValidationError``)."""
        return config_from_dict(cls, values, {"explicit": ALSConfig, "implicit": ImplicitConfig})


class Hybrid(ALS):
    """Hybrid ranking over explicit ALS and implicit ALS ("hybrid"; the default model).

    Attributes
    ----------
    user_factors_, item_factors_, user_bias_, item_bias_ : as in ``ALS``
    imp_user_factors_ : ndarray of shape (n_users, n_factors_implicit), float32
    imp_item_factors_ : ndarray of shape (n_items, n_factors_implicit), float32
    imp_mean_user_ : ndarray of shape (n_factors_implicit,), float32
        x̄, the mean training user's implicit factor.
    """

    name: ClassVar[str] = "hybrid"
    array_names: ClassVar[tuple[str, ...]] = ALS.array_names + ("imp_user_factors_", "imp_item_factors_", "imp_mean_user_")

    def __init__(self, config: HybridConfig | None = None, callback: Any = None) -> None:
        self.hybrid_config = config or HybridConfig()
        super().__init__(self.hybrid_config.explicit, callback)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Hybrid:
        return cls(HybridConfig.from_dict(config))

    def config_dict(self) -> dict[str, Any]:
        return self.hybrid_config.to_dict()

    def _fit(self, dataset: Dataset) -> None:
        super()._fit(dataset)
        self.imp_user_factors_, self.imp_item_factors_ = fit_implicit(
            self.user_items_, self.scale_.high, self.hybrid_config.implicit
        )
        self.imp_mean_user_ = self.imp_user_factors_.mean(axis=0).astype(np.float32)

    def _fill_known(self, state: UserState) -> None:
        super()._fill_known(state)
        state.extra["implicit"] = self.imp_user_factors_[state.user_idx]

    def _fold_in(self, state: UserState, timestamps: np.ndarray | None) -> None:
        super()._fold_in(state, timestamps)
        gram = self.cached("implicit_gram", lambda: gram_matrix(self.imp_item_factors_))
        state.extra["implicit"] = fold_in_implicit(
            self.imp_item_factors_, state.rated_idx, state.rated_values, self.scale_.high, self.hybrid_config.implicit, gram
        )

    def confidence_(self) -> np.ndarray:
        """w_i = n_i / (n_i + shrinkage), shape (n_items,), float32."""
        def build() -> np.ndarray:
            n = self.item_counts_.astype(np.float32)
            return n / (n + np.float32(self.hybrid_config.shrinkage))

        return self.cached("confidence", build)

    def _score(self, state: UserState) -> np.ndarray:
        """Hybrid ranking score; a cold-start user is the average user (x_u = x̄, p_u = 0)."""
        cfg = self.hybrid_config
        implicit = state.extra.get("implicit", self.imp_mean_user_)
        choice = self.imp_item_factors_ @ (implicit - np.float32(cfg.popularity_debias) * self.imp_mean_user_)
        deviation = self.item_bias_ + (self.item_factors_ @ state.factors if state.factors is not None else 0.0)
        span = max(self.scale_.high - self.scale_.low, 1e-6)
        weight = np.float32(cfg.rating_weight / span)
        return (choice + weight * self.confidence_() * deviation).astype(np.float32)

    def rating_scores(self, state: UserState) -> np.ndarray:
        """The explicit model's predicted ratings (unclipped) of every item."""
        self._require_fitted()
        return ALS._score(self, state)
