"""Time-aware explicit ALS: item biases per time bin and user bias drift (Koren 2009).

r̂(u, i, t) = μ + b_u + α_u · dev_u(t) + b_i + b_{i,Bin(t)} + p_u · q_i

* b_{i,Bin(t)} — the item's bias in the time bin of t (Koren 2009, eq. 6):
  ``item_time_bins`` equal-width bins over the training data's span.
* α_u · dev_u(t) — linear user-bias drift (eq. 7-8) with
  dev_u(t) = sign(t − t̄_u) · |t − t̄_u|^β, t in days, t̄_u the user's mean
  rating date, β = ``beta`` (0.4 in the paper).

The per-user scale c_u (eq. 10) and per-day terms b_{u,t} are not modelled.

Fitting is block coordinate descent on one objective: the usual ALS half-steps
for [b_u, p_u] and [b_i, q_i] (the same kernel as the static model, with the
time terms moved into the target), plus exact closed-form ridge updates of
α_u and of every b_{i,bin}. The time terms use additive ("damped")
penalties — λ_α · α_u² and λ_bin · b_{i,bin}² — rather than count-scaled ones,
so a bin with one rating is shrunk hard and a busy bin hardly at all (as in
Koren 2009 and the damped baselines of Koren 2010).

Serving: a prediction at time t beyond the training data uses the last bin
and the drift extrapolated to t (the paper's prescription for future dates);
"now" means the end of the training data unless a time is given. Fold-in fits
a new user's b_u, α_u and p_u from their own ratings and timestamps.

References
----------
Koren. "Collaborative filtering with temporal dynamics". KDD 2009.
doi:10.1145/1557019.1557072
Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.config import ALSConfig, config_from_dict
from movierec.data.dataset import Dataset
from movierec.engines.temporal import pair_dots
from movierec.errors import DataValidationError
from movierec.models.als import ALS
from movierec.models.base import UserState

DAY = 86400.0


@dataclass(frozen=True)
class TemporalConfig:
    """Configuration of the time-aware model; each term can be switched off.

    Attributes
    ----------
    explicit : ALSConfig
        Factors, iterations and the static penalties.
    factors : bool, default True
        Fit p_u · q_i; False gives a time-aware bias model ("bias-time").
    item_time_bins : int, default 30
        Number of item-bias time bins; 0 switches b_{i,Bin(t)} off.
    user_drift : bool, default True
        Fit α_u · dev_u(t).
    beta : float, default 0.4
        Exponent of dev_u(t).
    reg_bin : float, default 100.0
        λ_bin, additive penalty of each b_{i,bin} (in ratings: a bin's mean
        residual is shrunk by n / (n + λ_bin)).
    reg_drift : float, default 1000.0
        λ_α, additive penalty of α_u (dev² is in days^(2β), so this is large).

    The defaults were chosen on validation splits carved from the training
    part of ml-100k and ml-latest-small (benchmarks/temporal.py).
    """

    explicit: ALSConfig = ALSConfig()
    factors: bool = True
    item_time_bins: int = 30
    user_drift: bool = True
    beta: float = 0.4
    reg_bin: float = 100.0
    reg_drift: float = 1000.0

    def __post_init__(self) -> None:
        if not isinstance(self.item_time_bins, int) or self.item_time_bins < 0:
            raise DataValidationError(f"item_time_bins must be an integer >= 0, got {self.item_time_bins!r}")
        if not (self.beta > 0 and self.reg_bin > 0 and self.reg_drift > 0):
            raise DataValidationError(f"beta, reg_bin and reg_drift must be > 0; got {self.beta}, {self.reg_bin}, {self.reg_drift}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TemporalConfig:
        """Build from a dict (``explicit`` as a dict), refusing unknown keys (``DataValidationError``)."""
        return config_from_dict(cls, values, {"explicit": ALSConfig})


def drift(t_seconds: np.ndarray, t_mean_seconds: np.ndarray, beta: float) -> np.ndarray:
    """dev_u(t) = sign(t − t̄_u) · |t − t̄_u|^β with times in days (Koren 2009, eq. 7)."""
    delta = (np.asarray(t_seconds, dtype=np.float64) - t_mean_seconds) / DAY
    return np.sign(delta) * np.abs(delta) ** beta


def drift_update(user_idx: np.ndarray, residual: np.ndarray, dev: np.ndarray, n_users: int, reg: float) -> np.ndarray:
    """Exact ridge update of every α_u with everything else fixed.

    α_u = Σ_t e_ut · dev_u(t) / (Σ_t dev_u(t)² + reg), where e is the residual
    of the prediction without the drift term.

    Returns
    -------
    ndarray of shape (n_users,), float32
    """
    num = np.bincount(user_idx, residual * dev, n_users)
    den = np.bincount(user_idx, dev * dev, n_users) + reg
    return (num / den).astype(np.float32)


def bin_update(key: np.ndarray, residual: np.ndarray, n_keys: int, reg: float) -> np.ndarray:
    """Exact ridge update of every item-bin bias b_{i,bin} (key = item · n_bins + bin).

    b = Σ e / (n + reg) over the ratings of that item in that bin, where e is
    the residual of the prediction without the bin term.

    Returns
    -------
    ndarray of shape (n_keys,), float32
    """
    return (np.bincount(key, residual, n_keys) / (np.bincount(key, minlength=n_keys) + reg)).astype(np.float32)


class TemporalALS(ALS):
    """Time-aware explicit ALS ("als-time"; "bias-time" without factors).

    Attributes
    ----------
    user_factors_, item_factors_ : as in ``ALS`` (n_factors columns, 0 when
        ``factors`` is off)
    user_bias_, item_bias_ : static biases, float32
    user_alpha_ : ndarray of shape (n_users,), float32 — α_u
    user_time_mean_ : ndarray of shape (n_users,), float64 — t̄_u in UTC seconds
    item_bin_bias_ : ndarray of shape (n_items, item_time_bins), float32
    time_range_ : ndarray of shape (2,), float64 — first and last training timestamp
    """

    name: ClassVar[str] = "als-time"
    array_names: ClassVar[tuple[str, ...]] = ALS.array_names + (
        "user_alpha_", "user_time_mean_", "item_bin_bias_", "time_range_",
    )  # fmt: skip

    def __init__(self, config: TemporalConfig | None = None, callback: Any = None) -> None:
        self.temporal_config = config or TemporalConfig()
        super().__init__(self.temporal_config.explicit, callback)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TemporalALS:
        return cls(TemporalConfig.from_dict(config))

    def config_dict(self) -> dict[str, Any]:
        return self.temporal_config.to_dict()

    @property
    def _k(self) -> int:
        return self.config.n_factors if self.temporal_config.factors else 0

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset) -> None:
        tc = self.temporal_config
        k, n_u, n_i = self._k, dataset.n_users, dataset.n_items
        B = max(tc.item_time_bins, 1)
        r = dataset.ratings.sort("user_idx", "item_idx")
        u = r["user_idx"].to_numpy().astype(np.int64)
        i = r["item_idx"].to_numpy().astype(np.int64)
        v = r["rating"].to_numpy().astype(np.float64)
        t = r["timestamp"].to_numpy().astype(np.float64)
        ui = self.user_items_  # same user-major, item-sorted order as r
        perm = np.lexsort((u, i))  # item-major order of the same entries
        iu = sp.csr_matrix((v[perm].astype(np.float32), u[perm].astype(np.int32), np.r_[0, np.cumsum(np.bincount(i, minlength=n_i))]), shape=(n_i, n_u))
        self.time_range_ = np.array([t.min(), t.max()], dtype=np.float64)
        self.user_time_mean_ = np.bincount(u, t, n_u) / np.maximum(np.bincount(u, minlength=n_u), 1)
        dev = drift(t, self.user_time_mean_[u], tc.beta) if tc.user_drift else np.zeros_like(t)
        bins = self._bin(t)
        key = i * B + bins
        rng = np.random.default_rng(self.config.random_state)
        self.user_factors_ = np.zeros((n_u, k), dtype=np.float32)
        self.item_factors_ = (rng.standard_normal((n_i, k)) * (self.config.init_scale / np.sqrt(max(k, 1)))).astype(np.float32)
        self.user_bias_ = np.zeros(n_u, dtype=np.float32)
        self.item_bias_ = np.zeros(n_i, dtype=np.float32)
        self.user_alpha_ = np.zeros(n_u, dtype=np.float32)
        self.item_bin_bias_ = np.zeros((n_i, B if tc.item_time_bins else 0), dtype=np.float32)
        bin_term = np.zeros_like(v)
        drift_term = np.zeros_like(v)
        mu = self.global_mean_
        self.history_ = []
        for it in range(1, self.config.n_iter + 1):
            t0 = time.perf_counter()
            ui.data = (v - drift_term - bin_term).astype(np.float32)
            self._half(ui, self.item_factors_, self.item_bias_, self.user_factors_, self.user_bias_)
            if tc.user_drift:
                e = v - mu - self.user_bias_[u] - self.item_bias_[i] - bin_term - self._dots(ui)
                self.user_alpha_ = drift_update(u, e, dev, n_u, tc.reg_drift)
                drift_term = self.user_alpha_[u] * dev
            iu.data = (v - drift_term - bin_term)[perm].astype(np.float32)
            self._half(iu, self.user_factors_, self.user_bias_, self.item_factors_, self.item_bias_)
            ui.data = v.astype(np.float32)
            if tc.item_time_bins:
                e = v - mu - self.user_bias_[u] - drift_term - self.item_bias_[i] - self._dots(ui)
                self.item_bin_bias_ = bin_update(key, e, n_i * B, tc.reg_bin).reshape(n_i, B)
                bin_term = self.item_bin_bias_.ravel()[key]
            resid = v - mu - self.user_bias_[u] - drift_term - self.item_bias_[i] - bin_term - self._dots(ui)
            entry = {"iteration": it, "train_rmse": float(np.sqrt(np.mean(resid**2))), "seconds": time.perf_counter() - t0}
            self.history_.append(entry)
            if self.callback:
                self.callback(it, entry)
        ui.data = v.astype(np.float32)
        self.fit_info_ = {"train_rmse": self.history_[-1]["train_rmse"], "fit_seconds": sum(h["seconds"] for h in self.history_)}

    def _dots(self, ui: sp.csr_matrix) -> np.ndarray:
        if self._k == 0:
            return np.zeros(ui.nnz)
        return pair_dots(ui.indptr.astype(np.int64), ui.indices.astype(np.int32), self.user_factors_, self.item_factors_)

    def _bin(self, t: np.ndarray) -> np.ndarray:
        """Bin of each time: equal-width over the training span, clipped (future -> last bin)."""
        B = max(self.temporal_config.item_time_bins, 1)
        lo, hi = self.time_range_
        width = max(hi - lo, 1.0) / B
        return np.clip(np.floor((np.asarray(t, dtype=np.float64) - lo) / width), 0, B - 1).astype(np.int64)

    # ------------------------------------------------------------ serving
    def _item_terms(self, t: float | None) -> np.ndarray:
        """b_i + b_{i,Bin(t)} for every item at time t (None = now = end of training data)."""
        if not self.temporal_config.item_time_bins:
            return self.item_bias_
        b = int(self._bin(np.array([self.time_range_[1] if t is None else t]))[0])
        return self.item_bias_ + self.item_bin_bias_[:, b]

    def _user_drift(self, alpha: float, t_mean: float, t: float | None) -> float:
        if not self.temporal_config.user_drift:
            return 0.0
        when = self.time_range_[1] if t is None else t
        return float(alpha * drift(np.array([when]), t_mean, self.temporal_config.beta)[0])

    def _fill_known(self, state: UserState) -> None:
        super()._fill_known(state)
        state.extra["alpha"] = float(self.user_alpha_[state.user_idx])
        state.extra["t_mean"] = float(self.user_time_mean_[state.user_idx])

    def _fold_in(self, state: UserState, timestamps: np.ndarray | None) -> None:
        """Fit the new user's b_u, α_u, p_u from their ratings and timestamps (two block sweeps)."""
        tc = self.temporal_config
        ts = np.full(state.rated_idx.size, self.time_range_[1]) if timestamps is None else timestamps.astype(np.float64)
        t_mean = float(ts.mean())
        dev = drift(ts, t_mean, tc.beta) if tc.user_drift else np.zeros_like(ts)
        items = state.rated_idx
        item_terms = self.item_bias_[items] + (self.item_bin_bias_[items, self._bin(ts)] if tc.item_time_bins else 0.0)
        alpha = 0.0
        original = state.rated_values
        for _ in range(2):
            state.rated_values = (original - alpha * dev - (item_terms - self.item_bias_[items])).astype(np.float32)
            super()._fold_in(state, None)
            if tc.user_drift:
                dots = self.item_factors_[items] @ state.factors if self._k else 0.0
                e = original - self.global_mean_ - state.bias - item_terms - dots
                alpha = float((e * dev).sum() / ((dev * dev).sum() + tc.reg_drift))
        state.rated_values = original
        state.extra["alpha"], state.extra["t_mean"] = alpha, t_mean

    def _score(self, state: UserState, t: float | None = None) -> np.ndarray:
        scores = self.global_mean_ + self._item_terms(t) + np.float32(state.bias)
        if "alpha" in state.extra:
            scores = scores + np.float32(self._user_drift(state.extra["alpha"], state.extra["t_mean"], t))
        if state.factors is not None and self._k:
            scores = scores + self.item_factors_ @ state.factors
        return scores.astype(np.float32, copy=False)

    def _predict_at(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        out = super()._predict_idx(u, i)
        tc = self.temporal_config
        when = np.full(u.shape, self.time_range_[1]) if t is None else np.asarray(t, dtype=np.float64)
        ku, ki = u >= 0, i >= 0
        if tc.item_time_bins:
            out[ki] += self.item_bin_bias_[i[ki], self._bin(when[ki])]
        if tc.user_drift:
            out[ku] += self.user_alpha_[u[ku]] * drift(when[ku], self.user_time_mean_[u[ku]], tc.beta)
        return out


class BiasTime(TemporalALS):
    """Time-aware biases without factors ("bias-time"): ``TemporalALS`` with ``factors=False``."""

    name: ClassVar[str] = "bias-time"

    def __init__(self, config: TemporalConfig | None = None, callback: Any = None) -> None:
        super().__init__(config or TemporalConfig(factors=False), callback)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BiasTime:
        return cls(TemporalConfig.from_dict({"factors": False, **config}))


def ladder_configs(explicit: ALSConfig | None = None) -> dict[str, TemporalConfig]:
    """The rungs of the temporal ladder, each a ``TemporalConfig`` (Koren 2009, Table 2 order)."""
    base = TemporalConfig(explicit=explicit or ALSConfig())
    return {
        "static biases": replace(base, factors=False, item_time_bins=0, user_drift=False),
        "+ item time bins": replace(base, factors=False, user_drift=False),
        "+ user drift": replace(base, factors=False),
        "+ factors (static)": replace(base, item_time_bins=0, user_drift=False),
        "all together": base,
    }
