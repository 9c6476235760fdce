"""Implicit-feedback ALS on rating events: what a user will choose to watch.

Every rating is an event "u watched i". By default (``negative_below`` None)
each has preference 1 and confidence c_ui = 1 + alpha · r_ui / r_max, so a
5-star film counts more than a 1-star one but both say "watched" (Hu et al.'s
model on rating events). With ``negative_below = t``, a rating r < t is read as
"watched and disliked": preference 0 with confidence 1 + alpha · (t − r) / r_max,
the convention Spark restored for negative values (SPARK-20790: confidence
|r|, preference 0). Unrated films have preference 0 and confidence 1.
Scores x_u · y_i rank films by how likely the user is to pick them.

References
----------
Hu, Koren, Volinsky. "Collaborative Filtering for Implicit Feedback Datasets".
ICDM 2008. doi:10.1109/ICDM.2008.22
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.config import RankingPolicy, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, ParameterError
from movierec.kernels import csr_arrays, implicit_half_step
from movierec.kernels.aligned import aligned_zeros
from movierec.models.als import start_factors
from movierec.models.base import LinearScores, Recommender, UserState
from movierec.models.memory import factor_fit_bytes


@dataclass(frozen=True)
class ImplicitConfig:
    """Hyperparameters of implicit ALS.

    Attributes
    ----------
    n_factors : int, default 64
        Latent factors (Spark ``rank``).
    n_iter : int, default 15
        Alternating sweeps (Spark ``maxIter``).
    reg : float, default 0.2
        λ, multiplied by each row's number of events (Spark ``regParam`` with
        ``implicitPrefs=True``).
    alpha : float, default 3.0
        Confidence slope: c = 1 + alpha · rating / rating_max (Spark ``alpha``
        applied to the scaled rating).
    init_scale : float, default 0.1
        Standard deviation of the initial factors, divided by sqrt(n_factors).
    random_state : int, default 42
    negative_below : float or None, default None
        Ratings strictly below this many stars are negative evidence
        (preference 0); None makes every rating a positive event.
    solver : {"cholesky", "cg"}, default "cg"
        How each row's system is solved while fitting: "cholesky" exactly, "cg" by ``cg_steps``
        conjugate-gradient steps warm-started from the previous sweep (Takács et al. 2011; the
        ``implicit`` library's default), k² + 4·n·k per step instead of n·k² + k³/3. Fold-in is
        always exact. Measured: docs/decisions/0004-implicit-cg.md.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half-step with ``solver="cg"``.
    """

    n_factors: int = 64
    n_iter: int = 15
    reg: float = 0.2
    alpha: float = 3.0
    init_scale: float = 0.1
    random_state: int = 42
    negative_below: float | None = None
    solver: str = "cg"
    cg_steps: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.n_factors, int) or self.n_factors < 1:
            raise ParameterError("n_factors", "an integer >= 1", self.n_factors)
        if not isinstance(self.n_iter, int) or self.n_iter < 1:
            raise ParameterError("n_iter", "an integer >= 1", self.n_iter)
        if not self.reg > 0 or not self.alpha >= 0 or not self.init_scale > 0:
            raise DataValidationError(f"need reg > 0, alpha >= 0, init_scale > 0; got {self}")
        if self.solver not in ("cholesky", "cg"):
            raise ParameterError("solver", "cholesky or cg", self.solver)
        if isinstance(self.cg_steps, bool) or not isinstance(self.cg_steps, int) or self.cg_steps < 1:
            raise ParameterError("cg_steps", "an integer >= 1", self.cg_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImplicitConfig:
        """Build from a dict, refusing unknown keys (``DataValidationError``)."""
        return config_from_dict(cls, values)


def fit_implicit(user_items: sp.csr_matrix, scale_high: float, cfg: ImplicitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fit implicit ALS factors on a rating matrix.

    Parameters
    ----------
    user_items : csr_matrix of shape (n_users, n_items), float32 ratings in stars
    scale_high : float
        Top of the rating scale, to scale confidences.
    cfg : ImplicitConfig

    Returns
    -------
    (user_factors, item_factors) : float32 arrays of shapes (n_users, k), (n_items, k)
    """
    k = cfg.n_factors
    n_u, n_i = user_items.shape
    conf_ui, pref_ui = confidence(user_items, scale_high, cfg)
    conf_iu, pref_iu = conf_ui.T.tocsr(), pref_ui.T.tocsr()
    conf_iu.sort_indices()
    pref_iu.sort_indices()
    X = aligned_zeros((n_u, k))  # cache-line aligned rows (kernels.aligned)
    Y = start_factors(n_i, k, cfg.init_scale, cfg.random_state)
    steps = cfg.cg_steps if cfg.solver == "cg" else 0
    for _ in range(cfg.n_iter):
        _half(conf_ui, pref_ui, Y, cfg.reg, X, cg_steps=steps)
        _half(conf_iu, pref_iu, X, cfg.reg, Y, cg_steps=steps)
    return X, Y


def confidence(
    user_items: sp.csr_matrix, scale_high: float, cfg: ImplicitConfig
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Confidence and preference matrices on the observed entries (same structure as ``user_items``)."""
    conf, pref = user_items.copy().astype(np.float32), user_items.copy().astype(np.float32)
    conf.data, pref.data = confidence_values(user_items.data, scale_high, cfg)
    return conf, pref


def confidence_values(ratings: np.ndarray, scale_high: float, cfg: ImplicitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Confidence c and preference p of each rating (float32 arrays of its shape): the rule of ``confidence``.

    c = 1 + α·r / r_max and p = 1 for a positive event; with ``negative_below`` = t, a rating r < t
    has c = 1 + α·(t − r) / r_max and p = 0.
    """
    r = ratings.astype(np.float32)
    if cfg.negative_below is None:
        return (1.0 + cfg.alpha * r / scale_high).astype(np.float32), np.ones_like(r)
    neg = r < cfg.negative_below
    conf = np.where(neg, 1.0 + cfg.alpha * (cfg.negative_below - r) / scale_high, 1.0 + cfg.alpha * r / scale_high)
    return conf.astype(np.float32), (~neg).astype(np.float32)


def spark_implicit_values(
    ratings: Any, scale_high: float, negative_below: float | None, where: Callable[[Any, Any, Any], Any] = np.where
) -> Any:
    """Ratings re-expressed so Spark's implicit ALS sees this model's confidence and preference.

    ``pyspark.ml.recommendation.ALS(implicitPrefs=True, alpha=alpha)`` reads a
    value v as confidence 1 + alpha · |v| and preference 1 if v > 0, else 0
    (ALS.scala ``computeFactors``; SPARK-20790). Feeding it

    - v = r / r_max for a positive event (every rating, or r >= t), and
    - v = −(t − r) / r_max for r < t when ``negative_below`` = t is set,

    gives exactly ``confidence``'s c = 1 + alpha · r / r_max, p = 1 and
    c = 1 + alpha · (t − r) / r_max, p = 0, with the same ``alpha``. A positive
    event needs r > 0 (v = 0 would read as preference 0); MovieLens scales
    start at 0.5 or 1.

    Parameters
    ----------
    ratings : ndarray of shape (n_ratings,) in stars, or a Spark ``Column``
    scale_high : float
        r_max, the top of the rating scale.
    negative_below : float or None
        ``ImplicitConfig.negative_below``.
    where : callable (condition, if_true, if_false), default numpy.where
        Elementwise select; the Spark engine passes one building
        ``F.when(condition, if_true).otherwise(if_false)`` so the one mapping
        serves arrays and columns.

    Returns
    -------
    Same type as ``ratings``: the values v (float).
    """
    scaled = ratings / scale_high
    if negative_below is None:
        return scaled
    return where(ratings < negative_below, (ratings - negative_below) / scale_high, scaled)


def gram_matrix(factors: np.ndarray) -> np.ndarray:
    """YᵀY in float64, shape (n_factors, n_factors)."""
    f = factors.astype(np.float64)
    return f.T @ f


def _half(
    conf: sp.csr_matrix, pref: sp.csr_matrix, other: np.ndarray, reg: float, out: np.ndarray,
    gram: np.ndarray | None = None, cg_steps: int = 0,
) -> None:  # fmt: skip
    if gram is None:
        gram = gram_matrix(other)
    indptr, indices, confidence = csr_arrays(conf)
    implicit_half_step(
        indptr, indices, confidence, pref.data.astype(np.float32, copy=False), other, gram, reg, out, cg_steps
    )


class ImplicitALS(Recommender):
    """Implicit-feedback ALS ("als-implicit"): ranks by x_u · y_i.

    Not a rating model: ``predict`` returns the global mean for every pair
    (``predicts_ratings`` is False), so evaluation reports it on ranking only.
    A user with no ratings is ranked by popularity, ln(1 + n_i).

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_factors), float32
    item_factors_ : ndarray of shape (n_items, n_factors), float32
    """

    name: ClassVar[str] = "als-implicit"
    predicts_ratings: ClassVar[bool] = False
    array_names: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")

    def __init__(self, config: ImplicitConfig | None = None, policy: RankingPolicy | None = None) -> None:
        super().__init__(policy)
        self.config = config or ImplicitConfig()

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> ImplicitALS:
        return cls(ImplicitConfig.from_dict(config), policy=policy)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def _fit(self, dataset: Dataset) -> None:
        self.user_factors_, self.item_factors_ = fit_implicit(self.user_items_, self.scale_.high, self.config)

    def fit_memory(self, n_users: int, n_items: int) -> dict[str, int]:
        return factor_fit_bytes(self.config.n_factors, n_users, n_items, "implicit")

    def _prepare(self) -> None:
        self._gram = gram_matrix(self.item_factors_)  # YᵀY, needed by every fold-in
        # One more dimension carries the cold start: [x_u, cold] · [y_i, ln(1 + n_i)].
        self._item_vectors = np.column_stack([self.item_factors_, np.log1p(self.item_counts_)]).astype(np.float32)

    def _user_terms(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        return {"factors": self.user_factors_[user_idx]}

    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        if items.size == 0:
            return {}
        x = fold_in_implicit(self.item_factors_, items, values, self.scale_.high, self.config, self._gram)
        return {"factors": x[None, :]}

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores:
        """x_u · y_i, or ln(1 + n_i) (popularity) for a user with no factors; the same for both targets."""
        n = states.n_block
        k = self.item_factors_.shape[1]
        factors = states.terms.get("factors")
        cold = factors is None
        users = np.zeros((n, k + 1), dtype=np.float32)
        if cold:
            users[:, k] = 1.0
        else:
            users[:, :k] = factors
        return LinearScores.of(users, self._item_vectors, np.zeros(self.n_items, np.float32), np.zeros(n, np.float32))


def fold_in_implicit(
    item_factors: np.ndarray, rated_idx: np.ndarray, rated_values: np.ndarray, scale_high: float,
    cfg: ImplicitConfig, gram: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """One user's implicit factors against fixed item factors (the training half-step, one row).

    ``gram`` is YᵀY of ``item_factors`` (see ``gram_matrix``), cached by the caller.
    """
    order = np.argsort(rated_idx)
    out = np.zeros((1, item_factors.shape[1]), dtype=np.float32)
    conf, pref = confidence_values(rated_values[order], scale_high, cfg)
    # One CSR row as plain arrays: this solve builds no sparse matrix (each cost ~25 µs).
    indptr, indices = np.array([0, order.size], dtype=np.int64), rated_idx[order].astype(np.int32)
    implicit_half_step(indptr, indices, conf, pref, item_factors, gram, cfg.reg, out, 0)
    return out[0]
