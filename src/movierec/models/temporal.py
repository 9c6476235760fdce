"""Time-aware explicit ALS: item biases per time bin and user bias drift (Koren 2009).

r̂(u, i, t) = μ + b_u + α_u · dev_u(t) + c_u · (b_i + b_{i,Bin(t)}) + p_u · q_i

* b_{i,Bin(t)} — the item's bias in the time bin of t (Koren 2009, eq. 6):
  ``item_time_bins`` equal-width bins over the training data's span.
* α_u · dev_u(t) — linear user-bias drift (eq. 7-8) with
  dev_u(t) = sign(t − t̄_u) · |t − t̄_u|^β, t in days, t̄_u the user's mean
  rating date, β = ``beta`` (0.4 in the paper).
* c_u — optional per-user scale of the item bias (eq. 10-11 with
  c_u(t) = c_u, no per-day part), penalised toward 1 by λ_c · (c_u − 1)²;
  off by default (``user_scale``), so c_u = 1.

The per-day terms b_{u,t} and c_{u,t} are not modelled.

Fitting is block coordinate descent on one objective: the usual ALS half-steps
for [b_u, p_u] and [b_i, q_i] (the same kernel as the static model, with the
time terms moved into the target), plus exact closed-form ridge updates of
α_u, c_u and of every b_{i,bin}. With c_u on, the item half-step's design
row is [c_u, p_u] instead of [1, p_u], solved exactly by
``kernels.temporal.scaled_bias_half_step`` (float64, slower than the static
kernel: a fit with c_u takes 2.1-9.8x as long as static ALS in
benchmarks/README.md, one reason it is off by default). The time terms use additive
("damped") penalties — λ_α · α_u², λ_bin · b_{i,bin}², λ_c · (c_u − 1)² —
rather than count-scaled ones,
so a bin with one rating is shrunk hard and a busy bin hardly at all (as in
Koren 2009 and the damped baselines of Koren 2010).

Serving: a prediction at time t beyond the training data uses the last bin
and the drift extrapolated to t (the paper's prescription for future dates);
"now" means the end of the training data unless a time is given. An unknown
user gets μ + b_i + b_{i,Bin(t)} (c_u = 1, no drift). Fold-in fits a new
user's b_u, α_u, c_u and p_u from their own ratings and timestamps.

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

from movierec.config import ALSConfig, RankingPolicy, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, ParameterError
from movierec.kernels import scaled_bias_half_step
from movierec.kernels.aligned import aligned_zeros
from movierec.kernels.temporal import pair_dots
from movierec.models.als import ALS, start_factors
from movierec.models.base import LinearScores, UserState

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
    user_scale : bool, default False
        Fit c_u, the per-user scale of b_i + b_{i,Bin(t)} (eq. 10-11, c_u(t) = c_u).
        Off by default: it helped on the last-5 splits but not on ml-100k's
        chronological one, and it costs fit time (benchmarks/README.md).
    reg_scale : float, default 10.0
        λ_c, additive penalty of (c_u − 1)² (in ratings: a user with Σ x² of
        their item terms x well above λ_c gets their own scale).

    β is the paper's; the bins and penalties are the tuner's starting point, kept because tuning on
    validation splits of the training side did not beat them beyond noise (docs/decisions/0007).
    """

    explicit: ALSConfig = ALSConfig()
    factors: bool = True
    item_time_bins: int = 30
    user_drift: bool = True
    beta: float = 0.4
    reg_bin: float = 100.0
    reg_drift: float = 1000.0
    user_scale: bool = False
    reg_scale: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.item_time_bins, int) or self.item_time_bins < 0:
            raise ParameterError("item_time_bins", "an integer >= 0", self.item_time_bins)
        if not (self.beta > 0 and self.reg_bin > 0 and self.reg_drift > 0 and self.reg_scale > 0):
            raise DataValidationError(
                "beta, reg_bin, reg_drift and reg_scale must be > 0; "
                f"got {self.beta}, {self.reg_bin}, {self.reg_drift}, {self.reg_scale}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TemporalConfig:
        """Build from a dict (``explicit`` as a dict), refusing unknown keys (``DataValidationError``)."""
        return config_from_dict(cls, values, {"explicit": ALSConfig})


def drift(t_seconds: np.ndarray, t_mean_seconds: np.ndarray | float, beta: float) -> np.ndarray:
    """dev_u(t) = sign(t − t̄_u) · |t − t̄_u|^β with times in days (Koren 2009, eq. 7)."""
    delta = (np.asarray(t_seconds, dtype=np.float64) - t_mean_seconds) / DAY
    return np.sign(delta) * np.abs(delta) ** beta


def drift_update(
    user_idx: np.ndarray, residual: np.ndarray, dev: np.ndarray, n_users: int, reg: float, den: np.ndarray | None = None
) -> np.ndarray:
    """Exact ridge update of every α_u with everything else fixed.

    α_u = Σ_t e_ut · dev_u(t) / (Σ_t dev_u(t)² + reg), where e is the residual
    of the prediction without the drift term. ``den``, if given, is that
    denominator per user (it does not change between sweeps).

    Returns
    -------
    ndarray of shape (n_users,), float32
    """
    num = np.bincount(user_idx, residual * dev, n_users)
    if den is None:
        den = np.bincount(user_idx, dev * dev, n_users) + reg
    return (num / den).astype(np.float32)


def bin_update(
    key: np.ndarray,
    residual: np.ndarray,
    n_keys: int,
    reg: float,
    coef: np.ndarray | None = None,
    den: np.ndarray | None = None,
) -> np.ndarray:
    """Exact ridge update of every item-bin bias b_{i,bin} (key = item · n_bins + bin; eq. 6).

    b = Σ c·e / (Σ c² + reg) over the ratings of that item in that bin, where
    e is the residual of the prediction without the bin term and c the
    rating's coefficient of the bin term: its user's c_u (eq. 10), or 1
    (``coef=None``), giving Σ e / (n + reg). ``den``, if given, is n + reg per
    key (``coef=None`` only: it does not change between sweeps).

    Returns
    -------
    ndarray of shape (n_keys,), float32
    """
    if coef is None:
        if den is None:
            den = np.bincount(key, minlength=n_keys) + reg
        return (np.bincount(key, residual, n_keys) / den).astype(np.float32)
    return (np.bincount(key, coef * residual, n_keys) / (np.bincount(key, coef * coef, n_keys) + reg)).astype(
        np.float32
    )


def scale_update(
    user_idx: np.ndarray, residual: np.ndarray, item_terms: np.ndarray, n_users: int, reg: float
) -> np.ndarray:
    """Exact ridge update of every c_u toward 1 (eq. 10-11 with c_u(t) = c_u).

    c_u minimises Σ_t (e_ut − c_u · x_ut)² + reg · (c_u − 1)², so
    c_u = (Σ_t x_ut · e_ut + reg) / (Σ_t x_ut² + reg), where x = b_i + b_{i,Bin(t)}
    and e is the residual of the prediction without the item terms.

    Returns
    -------
    ndarray of shape (n_users,), float32
    """
    num = np.bincount(user_idx, residual * item_terms, n_users) + reg
    den = np.bincount(user_idx, item_terms * item_terms, n_users) + reg
    return (num / den).astype(np.float32)


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
    user_scale_ : ndarray of shape (n_users,), float32 — c_u (all 1 when ``user_scale`` is off)
    """

    name: ClassVar[str] = "als-time"
    array_names: ClassVar[tuple[str, ...]] = ALS.array_names + (
        "user_alpha_", "user_time_mean_", "item_bin_bias_", "time_range_", "user_scale_",
    )  # fmt: skip

    default_policy: ClassVar[RankingPolicy] = RankingPolicy(min_ratings=20)

    def __init__(
        self, config: TemporalConfig | None = None, callback: Any = None, policy: RankingPolicy | None = None
    ) -> None:
        self.temporal_config = config or TemporalConfig()
        super().__init__(self.temporal_config.explicit, callback, policy)

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> TemporalALS:
        return cls(TemporalConfig.from_dict(config), policy=policy)

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
        ui = self.user_items_.copy()  # user-major, item-sorted; its values are rewritten each sweep (the model's stay)
        u = np.repeat(np.arange(n_u, dtype=np.int64), np.diff(ui.indptr))
        i = ui.indices.astype(np.int64)
        v = ui.data.astype(np.float64)
        r = dataset.ratings  # timestamps into the same order: a CSR matrix of them on the same (user, film) pairs
        times = sp.csr_matrix(
            (r["timestamp"].to_numpy().astype(np.float64), (r["user_idx"].to_numpy(), r["item_idx"].to_numpy())),
            shape=(n_u, n_i),
        )
        times.sort_indices()
        t = times.data
        # Item-major order of the same entries: a stable sort by film keeps users ascending
        # (NumPy's radix sort below 2^15 films).
        perm = np.argsort(i.astype(np.int16 if n_i < 2**15 else np.int32), kind="stable")
        iu = sp.csr_matrix(
            (v[perm].astype(np.float32), u[perm].astype(np.int32), np.r_[0, np.cumsum(np.bincount(i, minlength=n_i))]),
            shape=(n_i, n_u),
        )
        self.time_range_ = np.array([t.min(), t.max()], dtype=np.float64)
        self.user_time_mean_ = np.bincount(u, t, n_u) / np.maximum(np.bincount(u, minlength=n_u), 1)
        dev = drift(t, self.user_time_mean_[u], tc.beta) if tc.user_drift else np.zeros_like(t)
        bins = self._bin(t)
        key = i * B + bins
        self.user_factors_ = aligned_zeros((n_u, k))  # cache-line aligned rows (kernels.aligned)
        self.item_factors_ = start_factors(n_i, k, self.config.init_scale, self.config.random_state)
        self.user_bias_ = np.zeros(n_u, dtype=np.float32)
        self.item_bias_ = np.zeros(n_i, dtype=np.float32)
        self.user_alpha_ = np.zeros(n_u, dtype=np.float32)
        self.item_bin_bias_ = np.zeros((n_i, B if tc.item_time_bins else 0), dtype=np.float32)
        self.user_scale_ = np.ones(n_u, dtype=np.float32)
        cu = np.ones_like(v) if tc.user_scale else None  # c_u of each rating; None: c_u = 1, static item terms
        bin_term = np.zeros_like(v)
        drift_term = np.zeros_like(v)
        mu = self.global_mean_
        # Denominators of the α_u and b_{i,bin} updates: fixed for the fit (with c_u = 1).
        drift_den = np.bincount(u, dev * dev, n_u) + tc.reg_drift
        bin_den = np.bincount(key, minlength=n_i * B) + tc.reg_bin
        self.history_ = []
        for it in range(1, self.config.n_iter + 1):
            t0 = time.perf_counter()
            # Block [b_u, p_u]: the kernel subtracts μ + b_i; the rest of the item terms move into the target.
            item_rest = bin_term if cu is None else cu * (self.item_bias_[i] + bin_term) - self.item_bias_[i]
            ui.data = (v - drift_term - item_rest).astype(np.float32)
            self._half(
                ui, self.item_factors_, self.item_bias_, self.user_factors_, self.user_bias_, cg_steps=self._cg_steps
            )
            if tc.user_drift or cu is not None:
                base = v - mu - self.user_bias_[u] - self._dots(ui)
                if tc.user_drift:  # block α_u (eq. 7-8)
                    e = base - (self.item_bias_[i] + bin_term if cu is None else cu * (self.item_bias_[i] + bin_term))
                    self.user_alpha_ = drift_update(u, e, dev, n_u, tc.reg_drift, drift_den)
                    drift_term = self.user_alpha_[u] * dev
                if cu is not None:  # block c_u (eq. 10-11)
                    self.user_scale_ = scale_update(
                        u, base - drift_term, self.item_bias_[i] + bin_term, n_u, tc.reg_scale
                    )
                    cu = self.user_scale_[u].astype(np.float64)
            # Block [b_i, q_i].
            if cu is None:
                iu.data = (v - drift_term - bin_term)[perm].astype(np.float32)
                self._half(
                    iu,
                    self.user_factors_,
                    self.user_bias_,
                    self.item_factors_,
                    self.item_bias_,
                    cg_steps=self._cg_steps,
                )
            else:
                target = (v - mu - self.user_bias_[u] - drift_term - cu * bin_term)[perm].astype(np.float32)
                scaled_bias_half_step(
                    iu.indptr.astype(np.int64), iu.indices, target, cu[perm].astype(np.float32), self.user_factors_,
                    self.config.reg, self.config.bias_reg, self.item_factors_, self.item_bias_,
                )  # fmt: skip
            # One set of dot products serves the bin update and the sweep's training error.
            item_static = self.item_bias_[i] if cu is None else cu * self.item_bias_[i]
            resid = v - mu - self.user_bias_[u] - drift_term - item_static - self._dots(ui)
            if tc.item_time_bins:  # block b_{i,bin} (eq. 6)
                den = bin_den if cu is None else None
                self.item_bin_bias_ = bin_update(key, resid, n_i * B, tc.reg_bin, cu, den).reshape(n_i, B)
                bin_term = self.item_bin_bias_.ravel()[key]
                resid = resid - (bin_term if cu is None else cu * bin_term)
            entry = {
                "iteration": it,
                "train_rmse": float(np.sqrt(np.mean(resid**2))),
                "seconds": time.perf_counter() - t0,
            }
            self.history_.append(entry)
            if self.callback:
                self.callback(it, entry)
        self.fit_info_["train_rmse"] = self.history_[-1]["train_rmse"]

    def _dots(self, ui: sp.csr_matrix) -> np.ndarray:
        if self._k == 0:
            return np.zeros(ui.nnz)
        return pair_dots(
            ui.indptr.astype(np.int64), ui.indices.astype(np.int32), self.user_factors_, self.item_factors_
        )

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

    def _user_terms(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        terms = super()._user_terms(user_idx)
        terms.update(
            alpha=self.user_alpha_[user_idx], t_mean=self.user_time_mean_[user_idx], scale=self.user_scale_[user_idx]
        )
        return terms

    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Fit the new user's b_u, α_u, c_u and p_u from their ratings and timestamps (two block sweeps)."""
        tc = self.temporal_config
        if items.size == 0:
            terms = super()._fold_in_terms(items, values, None)
            terms.update(
                alpha=np.zeros(1, np.float32), t_mean=np.array([self.time_range_[1]]), scale=np.ones(1, np.float32)
            )
            return terms
        ts = np.full(items.size, self.time_range_[1]) if timestamps is None else timestamps.astype(np.float64)
        t_mean = float(ts.mean())
        dev = drift(ts, t_mean, tc.beta) if tc.user_drift else np.zeros_like(ts)
        item_terms = self.item_bias_[items] + (self.item_bin_bias_[items, self._bin(ts)] if tc.item_time_bins else 0.0)
        alpha, scale = 0.0, 1.0
        for _ in range(2):
            target = (values - alpha * dev - (scale * item_terms - self.item_bias_[items])).astype(np.float32)
            terms = super()._fold_in_terms(items, target, None)
            if tc.user_drift or tc.user_scale:
                dots = self.item_factors_[items] @ terms["factors"][0] if self._k else 0.0
                base = values - self.global_mean_ - terms["bias"][0] - dots
                if tc.user_drift:
                    e = base - scale * item_terms
                    alpha = float((e * dev).sum() / ((dev * dev).sum() + tc.reg_drift))
                if tc.user_scale:
                    e = base - alpha * dev
                    scale = float(
                        ((e * item_terms).sum() + tc.reg_scale) / ((item_terms * item_terms).sum() + tc.reg_scale)
                    )
        terms.update(
            alpha=np.array([alpha], np.float32), t_mean=np.array([t_mean]), scale=np.array([scale], np.float32)
        )
        return terms

    def linear_scores(self, states: UserState, target: str = "score", t: float | None = None) -> LinearScores:
        """r̂(u, i, t) at time t (None = now, the end of the training data), both targets.

        [p_u, c_u] · [q_i, b_i + b_{i,Bin(t)}] + μ + (b_u + α_u·dev_u(t)).
        """
        terms = states.terms
        drift_now = np.zeros(states.n_block, dtype=np.float64)
        if self.temporal_config.user_drift:
            when = self.time_range_[1] if t is None else t
            drift_now = terms["alpha"] * drift(
                np.full(states.n_block, when), terms["t_mean"], self.temporal_config.beta
            )
        users = np.column_stack([terms["factors"], terms["scale"]])
        items = self._items_now if t is None else np.column_stack([self.item_factors_, self._item_terms(t)])
        mu = np.full(self.n_items, self.global_mean_, dtype=np.float32)
        return LinearScores.of(users, items, mu, terms["bias"] + drift_now)

    def _prepare(self) -> None:
        self._items_now = np.ascontiguousarray(
            np.column_stack([self.item_factors_, self._item_terms(None)]), dtype=np.float32
        )

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        out = super()._predict_idx(u, i, None)
        tc = self.temporal_config
        when = np.full(u.shape, self.time_range_[1]) if t is None else np.asarray(t, dtype=np.float64)
        ku, ki = u >= 0, i >= 0
        c = np.ones(u.shape)
        if tc.user_scale:  # eq. 10: c_u multiplies b_i + b_{i,Bin(t)}; unknown users keep c = 1
            c[ku] = self.user_scale_[u[ku]]
            both = ku & ki
            out[both] += (c[both] - 1.0) * self.item_bias_[i[both]]
        if tc.item_time_bins:
            out[ki] += c[ki] * self.item_bin_bias_[i[ki], self._bin(when[ki])]
        if tc.user_drift:
            out[ku] += self.user_alpha_[u[ku]] * drift(when[ku], self.user_time_mean_[u[ku]], tc.beta)
        return out


class BiasTime(TemporalALS):
    """Time-aware biases without factors ("bias-time"): ``TemporalALS`` with ``factors=False``."""

    name: ClassVar[str] = "bias-time"

    def __init__(
        self, config: TemporalConfig | None = None, callback: Any = None, policy: RankingPolicy | None = None
    ) -> None:
        super().__init__(config or TemporalConfig(factors=False), callback, policy)

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> BiasTime:
        return cls(TemporalConfig.from_dict({"factors": False, **config}), policy=policy)


def ladder_configs(explicit: ALSConfig | None = None) -> dict[str, TemporalConfig]:
    """The rungs of the temporal ladder, each a ``TemporalConfig`` (Koren 2009, Table 2 order).

    "all together" is the default ``als-time``; the last rung adds the opt-in
    per-user scale c_u (eq. 10-11) on top of it.
    """
    base = TemporalConfig(explicit=explicit or ALSConfig())
    return {
        "static biases": replace(base, factors=False, item_time_bins=0, user_drift=False),
        "+ item time bins": replace(base, factors=False, user_drift=False),
        "+ user drift": replace(base, factors=False),
        "+ factors (static)": replace(base, item_time_bins=0, user_drift=False),
        "all together": base,
        "+ user scale c_u": replace(base, user_scale=True),
    }
