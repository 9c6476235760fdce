"""The default recommender: what a user will choose to watch, and how much they will like it.

Ranking score for user u and film i, a blend of three standardized signals::

    s(u, i) = z_u[(x_u − γ·x̄) · y_i] + ease_weight · z_u[e_u · B_i] + rating_weight · z_u[w_i · (b_i + p_u · q_i)]
              + popularity_weight · z[ln(1 + n_i)]

* x_u · y_i — implicit-feedback ALS on the rating events (Hu, Koren, Volinsky
  2008): the preference to watch i. Ratings below ``negative_below`` stars are
  "watched and disliked" (preference 0, see ``ImplicitConfig``). γ·x̄·y_i, with x̄
  the mean training user's factor, optionally takes out a share of what every
  user would pick (``popularity_debias``; Steck, RecSys 2011).
* e_u · B_i — EASE (Steck 2019) over the ``ease.max_items`` most rated films: e_u
  is the user's 0/1 row of liked films (rated at least ``negative_below``), B the closed-form item-item weights,
  kept as its rank-``ease_rank`` factorization L·Rᵀ so the term is the linear
  form (e_u·L)·r_i: what the films the user watched say about film i, the
  neighbourhood signal a factor model smooths away.
* b_i + p_u · q_i — explicit biased ALS (ALS-WR, Zhou et al. 2008): how much u
  will like i beyond their own baseline, shrunk by w_i = n_i / (n_i + shrinkage),
  the confidence in film i's n_i training ratings (Koren 2010, §2.1): a film
  with one 5-star rating gets almost no credit for it.
* ln(1 + n_i) — the film's popularity in training.

z_u[·] standardizes a signal over the catalogue for that user (divides it by its
standard deviation across all films; the mean, a per-user constant, does not
change a list): the signals have different units and spreads per user, and a
fixed raw weight lets whichever is wider dominate. The spread of a linear score
is exact and cheap, sqrt(vᵀ·Cov(items)·v), so the blend stays one linear form
and ranks through the same block path as every model. The weights were chosen
on validation splits of the training side (docs/decisions/0014-default-blend.md).

With ``standardize=False`` the signals are added raw (the rating term divided by
the scale's width): the recipe of model folders saved before the blend, kept so
they load and rank as they did.

Predicted ratings (``predict``) are the explicit model's, unchanged.

References
----------
Hu, Koren, Volinsky. ICDM 2008. doi:10.1109/ICDM.2008.22
Zhou et al. AAIM 2008. doi:10.1007/978-3-540-68880-8_32
Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
Steck. "Item popularity and recommendation accuracy". RecSys 2011. doi:10.1145/2043932.2043957
Steck. "Embarrassingly Shallow Autoencoders for Sparse Data". WWW 2019. doi:10.1145/3308558.3313710
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from movierec.config import ALSConfig, RankingPolicy, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, ParameterError
from movierec.models.als import ALS
from movierec.models.base import LinearScores, Recommender, UserState
from movierec.models.ease import Ease, EaseConfig
from movierec.models.implicit import ImplicitALS, ImplicitConfig


@dataclass(frozen=True)
class HybridConfig:
    """Hyperparameters of the hybrid recommender: its two parts and how they combine.

    Attributes
    ----------
    explicit : ALSConfig
        The rating model.
    implicit : ImplicitConfig
        The choice model.
    ease : EaseConfig, default λ 250 over the 2,000 most rated films
        The item-item part.
    ease_weight : float, default 0.5
        Weight of the (standardized) EASE term against the implicit score; 0 leaves EASE out.
    ease_rank : int, default 64
        Rank of the factorization of B kept for scoring.
    rating_weight : float, default 0.013
        Weight of the (standardized) shrunk rating term against the implicit score.
    shrinkage : float, default 49.0
        Prior count of the confidence weight w_i = n_i / (n_i + shrinkage).
    popularity_debias : float, default 0.085
        γ in [0, 1]: share of the average user's implicit preference subtracted.
    popularity_weight : float, default 0.018
        Weight of the standardized log-popularity term (negative favours less-watched films).
    standardize : bool, default True
        Standardize each signal per user before blending; False adds them raw (older model folders).

    The defaults were selected on validation splits carved from the *training* side only
    (docs/decisions/0003-default-model.md).
    """

    explicit: ALSConfig = ALSConfig()
    implicit: ImplicitConfig = ImplicitConfig(reg=0.21, alpha=3.0, negative_below=3.0)
    ease: EaseConfig = EaseConfig(reg=250.0, max_items=2000)
    ease_weight: float = 0.5
    ease_rank: int = 64
    rating_weight: float = 0.013
    shrinkage: float = 49.0
    popularity_debias: float = 0.085
    popularity_weight: float = 0.018
    standardize: bool = True

    def __post_init__(self) -> None:
        for name, kind in (("explicit", ALSConfig), ("implicit", ImplicitConfig), ("ease", EaseConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ParameterError(name, f"an object of {kind.__name__} keys", getattr(self, name))
        for name in ("ease_weight", "rating_weight", "shrinkage", "popularity_debias", "popularity_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ParameterError(name, "a number", value)
        if not self.rating_weight >= 0 or not self.shrinkage >= 0:
            raise DataValidationError(
                f"rating_weight and shrinkage must be >= 0, got {self.rating_weight}, {self.shrinkage}"
            )
        if not 0 <= self.popularity_debias <= 1:
            raise ParameterError("popularity_debias", "in [0, 1]", self.popularity_debias)
        if not np.isfinite(self.popularity_weight):
            raise ParameterError("popularity_weight", "a finite number", self.popularity_weight)
        if not (np.isfinite(self.ease_weight) and self.ease_weight >= 0):
            raise ParameterError("ease_weight", "a finite number >= 0", self.ease_weight)
        if isinstance(self.ease_rank, bool) or not isinstance(self.ease_rank, int) or self.ease_rank < 1:
            raise ParameterError("ease_rank", "an integer >= 1", self.ease_rank)
        if not isinstance(self.standardize, bool):
            raise ParameterError("standardize", "true or false", self.standardize)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HybridConfig:
        """Build from a dict (sub-configs as dicts), refusing unknown keys (``DataValidationError``).

        A sub-config given in part keeps the hybrid's defaults for the rest (``{"ease": {"reg": 100}}``
        still keeps 2,000 films, ``{"implicit": {"n_factors": 32}}`` still ``negative_below=3``), not
        those of the sub-config's class.
        """
        v = dict(values)
        for name in ("explicit", "implicit", "ease"):
            if isinstance(v.get(name), dict):
                v[name] = {**asdict(getattr(cls, name)), **v[name]}
        return config_from_dict(cls, v, {"explicit": ALSConfig, "implicit": ImplicitConfig, "ease": EaseConfig})


class Hybrid(Recommender):
    """Hybrid ranking over an explicit ALS part and an implicit ALS part ("hybrid"; the default model).

    Built by composition: ``explicit`` (an ``ALS``) and ``implicit`` (an ``ImplicitALS``) are fitted
    on the same data and keep their own state; this class only combines their scores. Either part
    may be given ready to fit by another engine (``movierec.spark`` passes Spark-trained parts).

    Parameters
    ----------
    config : HybridConfig, optional
    policy : RankingPolicy, optional
        Default: rank by the hybrid score, guard 5 ratings.
    explicit, implicit : unfitted ALS / ImplicitALS, optional
        The parts; default ``ALS(config.explicit)`` and ``ImplicitALS(config.implicit)``.

    Attributes
    ----------
    explicit : ALS
    implicit : ImplicitALS
    mean_implicit_ : ndarray of shape (n_factors_implicit,), float32
        x̄, the mean training user's implicit factor.
    ease_left_, ease_right_ : ndarray of shape (n_items, r), float32
        B ≈ L·Rᵀ by item position (``Ease.low_rank``); r = 0 when ``ease_weight`` is 0.
    """

    name: ClassVar[str] = "hybrid"
    array_names: ClassVar[tuple[str, ...]] = ("mean_implicit_", "ease_left_", "ease_right_")
    parts: ClassVar[tuple[str, ...]] = ("explicit", "implicit")
    legacy_array_names: ClassVar[dict[str, str]] = {
        "user_factors_": "explicit.user_factors_", "item_factors_": "explicit.item_factors_",
        "user_bias_": "explicit.user_bias_", "item_bias_": "explicit.item_bias_",
        "imp_user_factors_": "implicit.user_factors_", "imp_item_factors_": "implicit.item_factors_",
        "imp_mean_user_": "mean_implicit_",
    }  # fmt: skip
    default_policy: ClassVar[RankingPolicy] = RankingPolicy(min_ratings=5)

    def __init__(
        self,
        config: HybridConfig | None = None,
        policy: RankingPolicy | None = None,
        *,
        explicit: ALS | None = None,
        implicit: ImplicitALS | None = None,
        callback: Any = None,
    ) -> None:
        super().__init__(policy)
        self.config = config or HybridConfig()
        self.explicit = explicit or ALS(self.config.explicit, callback)
        self.implicit = implicit or ImplicitALS(self.config.implicit)

    @property
    def callback(self) -> Any:
        """Progress hook of the explicit part (called after each of its sweeps)."""
        return self.explicit.callback

    @callback.setter
    def callback(self, value: Any) -> None:
        self.explicit.callback = value

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> Hybrid:
        return cls(HybridConfig.from_dict(config), policy)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def fit_memory(self, n_users: int, n_items: int) -> dict[str, int]:
        parts: dict[str, int] = {}
        for name in self.parts:  # an upper bound: the parts are fitted one after the other
            model: Recommender = getattr(self, name)
            parts.update({f"{name} {k}": v for k, v in model.fit_memory(n_users, n_items).items()})
        if self.config.ease_weight > 0:
            parts["ease weights"] = 20 * min(n_items, self.config.ease.max_items) ** 2  # as Ease._fit
        return parts

    def _fit(self, dataset: Dataset) -> None:
        for name in self.parts:
            part: Recommender = getattr(self, name)
            part._share_data(self)
            part._fit(dataset)
            part._finish_fit()
        self.mean_implicit_ = self.implicit.user_factors_.mean(axis=0).astype(np.float32)
        self.ease_left_ = self.ease_right_ = np.zeros((self.n_items, 0), dtype=np.float32)
        if self.config.ease_weight > 0:
            ease = Ease(self.config.ease)
            ease._share_data(self)
            ease._fit(dataset)
            ease._finish_fit()
            self.ease_left_, self.ease_right_ = ease.low_rank(self.config.ease_rank)
        self.fit_info_["train_rmse"] = self.explicit.fit_info_.get("train_rmse")
        self.history_ = getattr(self.explicit, "history_", [])

    def arrays(self) -> dict[str, np.ndarray]:
        out = super().arrays()
        for name in self.parts:
            out.update({f"{name}.{k}": v for k, v in getattr(self, name).arrays().items()})
        return out

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if "ease_left_" not in arrays:  # saved before the EASE term (config ease_weight 0)
            none = np.zeros((self.n_items, 0), dtype=np.float32)
            arrays = {**arrays, "ease_left_": none, "ease_right_": none}
        super().set_arrays(arrays)
        for name in self.parts:
            part: Recommender = getattr(self, name)
            part._share_data(self)
            part.set_arrays({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{name}.")})
            part._finish_fit()

    def _prepare(self) -> None:
        cfg = self.config
        n = self.item_counts_.astype(np.float64)
        confidence = (n / (n + cfg.shrinkage)).astype(np.float32)  # w_i
        # items: [y_i, w_i·q_i, w_i·b_i, r_i]; users: [a_u·(x_u − γx̄), c_u·p_u, c_u, d_u·e_u·L] (``linear_scores``)
        liking = np.column_stack(
            [confidence[:, None] * self.explicit.item_factors_, confidence * self.explicit.item_bias_]
        )
        self._item_vectors = np.ascontiguousarray(
            np.column_stack([self.implicit.item_factors_, liking, self.ease_right_]), dtype=np.float32
        )
        self._n_implicit = self.implicit.item_factors_.shape[1]
        self._cov_implicit = np.cov(self.implicit.item_factors_, rowvar=False, bias=True).reshape(self._n_implicit, -1)
        self._cov_liking = np.cov(liking, rowvar=False, bias=True)
        r = self.ease_right_.shape[1]
        self._cov_ease = np.cov(self.ease_right_, rowvar=False, bias=True).reshape(r, r) if r else np.zeros((0, 0))
        popularity = np.log1p(n)
        spread = popularity.std()
        z = (popularity - popularity.mean()) / spread if spread > 0 else np.zeros_like(popularity)
        self._item_offset = (cfg.popularity_weight * z).astype(np.float32)

    def _user_terms(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        terms = self.explicit._user_terms(user_idx)
        terms["implicit"] = self.implicit.user_factors_[user_idx]
        return terms

    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        terms = self.explicit._fold_in_terms(items, values, timestamps)
        implicit = self.implicit._fold_in_terms(items, values, timestamps)
        terms["implicit"] = implicit.get("factors", self.mean_implicit_[None, :])  # no ratings: the average user
        return terms

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores:
        """``target="score"``: the hybrid score (module docstring); ``"rating"``: the explicit part's rating."""
        if target == "rating":
            return self.explicit.linear_scores(states, "rating")
        cfg, t = self.config, states.terms
        implicit = (t["implicit"] - np.float32(cfg.popularity_debias) * self.mean_implicit_).astype(np.float64)
        liking = np.column_stack([t["factors"], np.ones(states.n_block)]).astype(np.float64)
        if cfg.standardize:  # 1 / the signal's standard deviation over the catalogue, for each user
            a = 1.0 / _spread(implicit, self._cov_implicit)
            c = cfg.rating_weight / _spread(liking, self._cov_liking)
        else:
            a = np.ones(states.n_block)
            c = np.full(states.n_block, cfg.rating_weight / max(self.scale_.high - self.scale_.low, 1e-6))
        ease = self._ease_terms(states)
        d = cfg.ease_weight / _spread(ease, self._cov_ease) if ease.shape[1] else np.zeros(states.n_block)
        users = np.column_stack([a[:, None] * implicit, c[:, None] * liking, d[:, None] * ease]).astype(np.float32)
        return LinearScores.of(users, self._item_vectors, self._item_offset, np.zeros(states.n_block, np.float32))

    def _ease_terms(self, states: UserState) -> np.ndarray:
        """e_u · L for each user of the block, float64: the sum of L's rows of the films the user liked.

        e_u holds the films rated at least ``implicit.negative_below`` stars (all of them when it is
        None): a film the user disliked is no reason to show its neighbours (with every rated film,
        the demo profile's low-rated horror films pulled horror into its list).

        Computed from the block's rated films (training users, fold-ins and anonymous lists alike);
        each row is summed in the ascending film order of its own row, so a user's term never depends
        on the block it is scored in.
        """
        left = self.ease_left_
        if left.shape[1] == 0:
            return np.zeros((states.n_block, 0))
        x = states.rated.astype(np.float32, copy=True)
        below = self.config.implicit.negative_below
        x.data[:] = 1.0 if below is None else x.data >= below
        return np.asarray(x @ left, dtype=np.float64)

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        return self.explicit._predict_idx(u, i, t)


def _spread(users: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """sqrt(vᵀ·cov·v) per row v of ``users``: the standard deviation of v·item over the items (1 where it is 0)."""
    # elementwise products reduced along fixed axes: a row's value never depends on the block it came in
    quad = ((users[:, :, None] * cov[None, :, :]).sum(axis=1) * users).sum(axis=1)
    sd = np.sqrt(np.maximum(quad, 0.0))
    return np.where(sd > 1e-12, sd, 1.0)
