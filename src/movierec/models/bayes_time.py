"""Bayesian timeSVD++ by Gibbs sampling ("als-bayes-time"): the time terms of ``als-time``, SVD++'s
implicit-feedback term, and the posterior averaging of ``als-bayes``.

Model (Koren 2009's timeSVD++ with its per-day user bias, made Bayesian as in Rendle, Zhang, Koren 2019):

    r_uit ~ N(r̂(u, i, t), 1/τ)
    r̂(u, i, t) = μ + b_u + α_u·dev_u(t) + b_{u,day(t)} + b_i + b_{i,Bin(t)}
                 + (q_i + |M(i)|^(-1/2) Σ_{v∈M(i)} x_v) · (p_u + |N(u)|^(-1/2) Σ_{j∈N(u)} y_j)

b_{u,day} (``user_day_bias``) is 0 for a day the user did not rate on in training, so it never moves
a ranking. Optional attribute groups add |G(i)|^(-1/2) Σ h_g (film genres and decades,
``item_attributes``) to the film side and |A(u)|^(-1/2) Σ g_a (``fit(..., user_attributes=...)``) to
the user side, each group's factors drawn like the y_j.

dev_u(t) and Bin(t) as in ``movierec.models.temporal``; N(u) the films user u rated in training
(plus, only when ``fit(..., implicit=...)`` is given, films known to be rated whose stars are unknown);
M(i) the users with i in N(u) (the "flipped" term, ``flipped``).
Priors are per group and per dimension, Normal with Normal–Gamma hyperpriors as in ``als-bayes``:
[b_u, p_u], [b_i, q_i], y_j and x_u each have their own (λ, m), drawn every sweep. The time terms α_u
and b_{i,bin} keep ``als-time``'s damped penalties as a fixed prior N(0, σ²/λ) (``fixed_time_prior``):
with a sampled one the drift, extrapolated past the training data, cost 0.02–0.04 RMSE on returning
users of a chronological split (docs/decisions/0015).

One sweep draws, each from its exact conditional: τ; [b_u, p_u] (the Gibbs half-step kernel of
``als-bayes`` with the time and implicit terms moved into the target); α_u (a scalar Normal per user);
the y_j one after another (``kernels.implicit_gibbs_step``: the ratings enter them only through each
user's Gram matrix of item factors); with ``flipped``, the x_u likewise (through each film's Gram
matrix of p_u + z_u); [b_i, q_i] (the same half-step kernel, with p_u + z_u as the user side);
b_{i,bin} (a scalar Normal per item and bin); b_{u,day} (a scalar Normal per user and day). The
chain starts from ``als-time``'s ALS sweeps (y and x small and random, as libFM's), discards
``n_burn`` sweeps and averages the next ``n_samples``:

    r̂ = μ + b̄_u + ᾱ_u·dev_u(t) + b̄_{u,day(t)} + b̄_i + b̄_{i,Bin(t)} + (1/S) Σ_s (q_i^s + w_i^s) · (p_u^s + z_u^s)

(w_i = |M(i)|^(-1/2) Σ_{u∈M(i)} x_u, 0 without ``flipped``), stored, as in ``als-bayes``, as an
``als-time`` model of rank S·n_factors whose user factors are the samples' p_u + z_u side by side and
item factors their q_i + w_i (each block over √S), so ranking and time handling are those of
``TemporalALS``; an unknown user or film is the average one of its side (``_predict_idx``).

Fold-in of a new user: per stored sample s, z^s from the y_j^s of the films they rated, then the
posterior mean of [b_u, α_u, p_u] given that sample's items and user prior (one (n_factors + 2)
solve per sample), averaged over samples. The item-bin biases in that solve are the averaged ones
(per-sample bins are not stored: S·n_items·bins floats).

References
----------
Koren. "Collaborative filtering with temporal dynamics". KDD 2009. doi:10.1145/1557019.1557072
Koren. "Factorization meets the neighborhood". KDD 2008. doi:10.1145/1401890.1401944 (SVD++)
Salakhutdinov, Mnih. ICML 2008. doi:10.1145/1390156.1390267 (Bayesian MF by Gibbs sampling)
Rendle, Zhang, Koren. "On the difficulty of evaluating baselines". arXiv:1905.01395, 2019
(Bayesian timeSVD++ and its ml-10M record)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from movierec.config import ALSConfig, RankingPolicy, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, ParameterError
from movierec.kernels import gibbs_half_step
from movierec.kernels.temporal import pair_dots
from movierec.models.bayes import sample_prior
from movierec.models.svdpp import F32, ImplicitBlock
from movierec.models.temporal import DAY, TemporalALS, TemporalConfig, drift


@dataclass(frozen=True)
class BayesTimeConfig:
    """Configuration of Bayesian timeSVD++.

    Attributes
    ----------
    temporal : TemporalConfig, default 6 factors, 5 ALS sweeps, 30 item-time bins, user drift on
        ``explicit.n_factors`` of every sample; ``item_time_bins``, ``user_drift`` and ``beta`` define
        the time terms; the ALS sweeps (``explicit.n_iter`` with the ALS and temporal penalties) give
        the chain's start only. ``user_scale`` must stay off and ``factors`` on.
    implicit : bool, default True
        Fit SVD++'s term |N(u)|^(-1/2) Σ y_j; False gives Bayesian time-aware MF.
    flipped : bool, default True
        Also fit the "flipped" item-side term: q_i becomes q_i + |M(i)|^(-1/2) Σ_{u∈M(i)} x_u, M(i)
        the users with i in N(u) (Rendle, Zhang, Koren 2019).
    user_day_bias : bool, default True
        Fit Koren's per-day user bias b_{u,t} (t the UTC calendar day of the rating): the mood of one
        rating session. It has its own Normal–Gamma hyperprior; a (user, day) not seen in training
        gets 0, so it moves only predictions for days the user rated in training and never a ranking
        (a constant per user and day).
    item_attributes : bool, default False
        Add a film feature group: one factor vector per label (``genre:<name>`` for each of the film's
        genres, ``decade:1990s`` from its year), |G(i)|^(-1/2) Σ_g h_g added to q_i, with its own
        hyperprior. The catalogue must carry genres or years. User attributes are data, not
        configuration: ``fit(..., user_attributes=frame)``.
    fixed_time_prior : bool, default True
        α_u ~ N(0, σ²/reg_drift) and b_{i,bin} ~ N(0, σ²/reg_bin) with ``temporal``'s penalties (the
        posterior mean is then ``als-time``'s ridge update); False samples their Normal–Gamma
        hyperpriors like the other groups'.
    n_burn : int, default 20
        Gibbs sweeps discarded before averaging (>= 0).
    n_samples : int, default 180
        Gibbs sweeps averaged (S >= 1); the stored rank is S · n_factors.
    prior_shape, prior_rate, prior_strength : float, default 1.0
        a₀, b₀ and γ of the hyperpriors, as in ``BayesConfig`` (> 0).

    Defaults: docs/decisions/0015-als-bayes-time-defaults.md.
    """

    temporal: TemporalConfig = TemporalConfig(explicit=ALSConfig(n_factors=6, n_iter=5))
    implicit: bool = True
    flipped: bool = True
    user_day_bias: bool = True
    item_attributes: bool = False
    fixed_time_prior: bool = True
    n_burn: int = 20
    n_samples: int = 180
    prior_shape: float = 1.0
    prior_rate: float = 1.0
    prior_strength: float = 1.0

    def __post_init__(self) -> None:
        if self.temporal.user_scale:
            raise ParameterError("temporal.user_scale", "false (c_u is not sampled here)", self.temporal.user_scale)
        if not self.temporal.factors:
            raise ParameterError("temporal.factors", "true (this model is a factor model)", self.temporal.factors)
        if not isinstance(self.n_burn, int) or self.n_burn < 0:
            raise ParameterError("n_burn", "an integer >= 0", self.n_burn)
        if not isinstance(self.n_samples, int) or self.n_samples < 1:
            raise ParameterError("n_samples", "an integer >= 1", self.n_samples)
        for name in ("prior_shape", "prior_rate", "prior_strength"):
            if not getattr(self, name) > 0:
                raise ParameterError(name, "> 0", getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BayesTimeConfig:
        """Build from a dict, refusing unknown keys (``DataValidationError``).

        A partial ``temporal`` dict (and a partial ``explicit`` inside it) starts from this class's default.
        """
        v = dict(values)
        if isinstance(v.get("temporal"), dict):
            base = asdict(cls.temporal)
            given = dict(v["temporal"])
            if isinstance(given.get("explicit"), dict):
                given["explicit"] = {**base["explicit"], **given["explicit"]}
            v["temporal"] = TemporalConfig.from_dict({**base, **given})
        return config_from_dict(cls, v)


def label_matrix(rows: np.ndarray, labels: list[list[str]], n_rows: int) -> tuple[sp.csr_matrix, int]:
    """A 0/1 CSR matrix (n_rows, n_labels) marking each row's labels; rows < 0 (unknown ids) are left out.

    Returns the matrix and the number of distinct labels of known rows (its columns). Missing
    labels (None) are skipped.
    """
    pairs = {
        (int(r), label)
        for r, row_labels in zip(rows, labels, strict=True)
        if r >= 0
        for label in row_labels or []
        if label is not None
    }
    vocab = {label: j for j, label in enumerate(sorted({label for _, label in pairs}))}
    r = np.fromiter((p[0] for p in pairs), np.int64, len(pairs))
    c = np.fromiter((vocab[p[1]] for p in pairs), np.int64, len(pairs))
    matrix = sp.csr_matrix((np.ones(len(pairs)), (r, c)), shape=(n_rows, len(vocab)))
    matrix.sort_indices()
    return matrix, len(vocab)


DAY_BITS = 23
"""Low bits of a ``user_day_key`` holding the day: ±2²² days (11,000 years) around 1970."""


def user_day_key(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """One int64 per (user index, UTC calendar day of timestamp t in seconds), sortable; ``key >> DAY_BITS`` is u."""
    day = np.floor_divide(t, DAY).astype(np.int64)
    return u.astype(np.int64) * (1 << DAY_BITS) + np.clip(day + (1 << (DAY_BITS - 1)), 0, (1 << DAY_BITS) - 1)


class BayesianTimeSVDpp(TemporalALS):
    """Bayesian timeSVD++ fitted by Gibbs sampling ("als-bayes-time"), served as one averaged ``als-time`` model.

    Parameters
    ----------
    config : BayesTimeConfig, optional
    policy : RankingPolicy, optional

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_samples · n_factors), float32
        The samples' p_u + z_u side by side, each block divided by √S.
    item_factors_ : ndarray of shape (n_items, n_samples · n_factors), float32
        The samples' q_i + w_i likewise (w_i the flipped term, 0 with ``flipped`` off).
    implicit_factors_ : ndarray of shape (n_items, n_samples · n_factors) (n_factors 0 with ``implicit`` off), float32
        The samples' y_j likewise (for fold-in).
    user_bias_, item_bias_, user_alpha_, item_bin_bias_ : float32, stars
        Posterior means of b_u, b_i, α_u, b_{i,bin}; ``user_time_mean_``, ``time_range_`` and
        ``user_scale_`` (all 1) as in ``TemporalALS``.
    sample_item_bias_ : ndarray of shape (n_samples, n_items), float32
        b_i of every sample (for fold-in).
    sample_user_prior_ : ndarray of shape (n_samples, 2, n_factors + 2), float64
        Per sample, the prior of [b_u, α_u, p_u]: row 0 its precision over τ, row 1 its mean.
    history_ : list of dict
        Per sweep: ``iteration``, ``phase`` ("als", "burn", "sample"), ``train_rmse`` (of that
        sweep's draw), ``sigma`` (Gibbs sweeps), ``seconds``.
    fit_info_ : dict
        As ``Recommender``'s, plus ``sigma_mean`` (σ averaged over the samples, stars) and, when
        ``fit(..., implicit=...)`` added pairs, ``extra_implicit_pairs``.

    Raises
    ------
    FitError
        From ``fit`` when a learned array is non-finite.

    References
    ----------
    Koren. KDD 2009. doi:10.1145/1557019.1557072; Rendle, Zhang, Koren. arXiv:1905.01395.
    """

    name: ClassVar[str] = "als-bayes-time"
    array_names: ClassVar[tuple[str, ...]] = TemporalALS.array_names + (
        "implicit_factors_", "sample_item_bias_", "sample_user_prior_", "user_day_keys_", "user_day_bias_",
    )  # fmt: skip

    default_policy: ClassVar[RankingPolicy] = RankingPolicy(min_ratings=20)

    def __init__(self, config: BayesTimeConfig | None = None, policy: RankingPolicy | None = None) -> None:
        self.bayes_config = config or BayesTimeConfig()
        self._extra_implicit: Dataset | None = None
        self._user_attributes: pl.DataFrame | None = None
        super().__init__(self.bayes_config.temporal, None, policy)

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> BayesianTimeSVDpp:
        return cls(BayesTimeConfig.from_dict(config), policy=policy)

    def config_dict(self) -> dict[str, Any]:
        return self.bayes_config.to_dict()

    def fit(
        self, dataset: Dataset, implicit: Dataset | None = None, user_attributes: pl.DataFrame | None = None
    ) -> BayesianTimeSVDpp:
        """Fit on ``dataset``; ``implicit``, if given, adds its (user, film) pairs to N(u), stars unused.

        That is the papers' use of the test pairs' films without their ratings (Koren 2009, Rendle
        et al. 2019): an evaluation that passes it must say so. Pairs of users or films unknown to
        ``dataset`` are ignored.

        ``user_attributes`` (``user_id`` and ``attributes``, a list of labels per user, as
        ``movierec.data.load_user_attributes`` returns for ml-100k and ml-1m) adds a user feature
        group: |A(u)|^(-1/2) Σ_a g_a added to p_u. Users absent from it have no labels. A user folded
        in later has no labels either (the service knows only ratings). See ``Recommender.fit`` for
        the errors; a frame without those columns is a ``DataValidationError``.
        """
        if user_attributes is not None and not {"user_id", "attributes"} <= set(user_attributes.columns):
            raise DataValidationError(
                f"user_attributes: expected columns user_id and attributes; found {user_attributes.columns}"
            )
        if user_attributes is not None and user_attributes.schema["attributes"] != pl.List(pl.Utf8):
            raise DataValidationError(
                "user_attributes: the attributes column must hold a list of text labels per user "
                f'(e.g. ["gender:F", "age:25-34"]); found {user_attributes.schema["attributes"]}'
            )
        self._extra_implicit, self._user_attributes = implicit, user_attributes
        try:
            super().fit(dataset)
        finally:
            self._extra_implicit = self._user_attributes = None
        return self

    def _user_label_rows(self, n_u: int) -> sp.csr_matrix:
        """The users' attribute labels as a 0/1 matrix (n_users, n_labels); no columns without attributes."""
        frame = self._user_attributes
        if frame is None:
            return sp.csr_matrix((n_u, 0))
        rows = self.users_.positions(frame["user_id"].to_list())
        matrix, n_labels = label_matrix(rows, frame["attributes"].to_list(), n_u)
        if not n_labels:
            raise DataValidationError(
                "user_attributes: no label for any training user (check that its user_id values are the ratings' ids)"
            )
        self.fit_info_["user_labels"] = n_labels
        return matrix

    def _item_label_rows(self, dataset: Dataset, n_i: int) -> sp.csr_matrix:
        """The films' genre and decade labels as a 0/1 matrix (n_items, n_labels)."""
        movies = dataset.movies
        labels = [
            [f"genre:{g}" for g in (genres or [])] + ([f"decade:{year // 10 * 10}s"] if year is not None else [])
            for genres, year in zip(movies["genres"].to_list(), movies["year"].to_list(), strict=True)
        ]
        matrix, n_labels = label_matrix(self.items_.positions(movies["movie_id"].to_list()), labels, n_i)
        if not n_labels:
            raise DataValidationError("item_attributes: the catalogue has no genres or years to learn from")
        self.fit_info_["item_labels"] = n_labels
        return matrix

    # ------------------------------------------------------------------ fit
    def _implicit_rows(self, n_u: int, n_i: int) -> sp.csr_matrix:
        """N as a 0/1 CSR matrix of shape (n_users, n_items): training pairs plus the extra ones."""
        pattern = self.user_items_.copy()
        pattern.data = np.ones_like(pattern.data)
        extra = self._extra_implicit
        if extra is not None and extra.n_ratings:
            eu = self.users_.positions(extra.ratings["user_id"].to_list())
            ei = self.items_.positions(extra.ratings["movie_id"].to_list())
            keep = (eu >= 0) & (ei >= 0)
            more = sp.csr_matrix((np.ones(int(keep.sum()), F32), (eu[keep], ei[keep])), shape=(n_u, n_i))
            pattern = pattern + more
            pattern.data = np.ones_like(pattern.data)
            self.fit_info_["extra_implicit_pairs"] = int(pattern.nnz - self.user_items_.nnz)
        pattern.sort_indices()
        return pattern

    def _fit(self, dataset: Dataset) -> None:
        super()._fit(dataset)  # als-time's ALS sweeps: the chain's start
        tc, bc = self.temporal_config, self.bayes_config
        k, S, mu = self.config.n_factors, bc.n_samples, self.global_mean_
        ui = self.user_items_
        n_u, n_i = ui.shape
        indptr, indices = ui.indptr.astype(np.int64), ui.indices.astype(np.int32)
        u = np.repeat(np.arange(n_u, dtype=np.int64), np.diff(ui.indptr))
        i = ui.indices.astype(np.int64)
        v = ui.data.astype(np.float64)
        r = dataset.ratings  # timestamps in the rating matrix's order (as in TemporalALS._fit)
        rows_cols = (r["user_idx"].to_numpy(), r["item_idx"].to_numpy())
        times = sp.csr_matrix((r["timestamp"].to_numpy().astype(np.float64), rows_cols), shape=(n_u, n_i))
        times.sort_indices()
        t = times.data
        dev = drift(t, self.user_time_mean_[u], tc.beta) if tc.user_drift else np.zeros_like(t)
        B = max(tc.item_time_bins, 1)
        key = i * B + self._bin(t)
        perm = np.argsort(i, kind="stable")
        i_ptr = np.r_[0, np.cumsum(np.bincount(i, minlength=n_i))]
        iu = sp.csr_matrix((v[perm].astype(F32), u[perm].astype(np.int32), i_ptr), shape=(n_i, n_u))
        i_indptr, i_indices = iu.indptr.astype(np.int64), iu.indices.astype(np.int32)
        N = self._implicit_rows(n_u, n_i)
        ratings_by_user = sp.csr_matrix((np.ones(ui.nnz), ui.indices, ui.indptr), shape=(n_u, n_i))
        ratings_by_item = sp.csr_matrix((np.ones(ui.nnz), iu.indices, iu.indptr), shape=(n_i, n_u))
        rng = np.random.default_rng([self.config.random_state, 2])
        kk = k if bc.implicit else 0
        # y_j (users' N(u) term) and, flipped, x_u (films' M(i) term: the users who rated them).
        user_side = ImplicitBlock(N, ratings_by_user, kk, self.config.init_scale, rng)
        item_side = ImplicitBlock(N.T.tocsr(), ratings_by_item, k if bc.flipped else 0, self.config.init_scale, rng)
        # Attribute groups (off by default): factors of categorical labels summed into each side, as N(u) is.
        user_labels = self._user_label_rows(n_u)
        item_labels = self._item_label_rows(dataset, n_i) if bc.item_attributes else sp.csr_matrix((n_i, 0))
        user_attr = ImplicitBlock(
            user_labels, ratings_by_user, k if user_labels.shape[1] else 0, self.config.init_scale, rng
        )
        item_attr = ImplicitBlock(
            item_labels, ratings_by_item, k if item_labels.shape[1] else 0, self.config.init_scale, rng
        )
        blocks_u = [b for b in (user_side, user_attr) if b.k]  # the user side's terms besides p_u
        blocks_i = [b for b in (item_side, item_attr) if b.k]  # the film side's terms besides q_i

        def effect(blocks: list[ImplicitBlock], n: int, skip: ImplicitBlock | None = None) -> np.ndarray:
            out = np.zeros((n, k), F32)
            for b in blocks:
                if b is not skip:
                    out += b.effect(k)
            return out

        P, bu = np.ascontiguousarray(self.user_factors_, F32), self.user_bias_.astype(F32)
        Q, bi = np.ascontiguousarray(self.item_factors_, F32), self.item_bias_.astype(F32)
        alpha = self.user_alpha_.astype(np.float64)
        bins = self.item_bin_bias_.astype(np.float64).ravel() if tc.item_time_bins else np.zeros(0)
        a_term = alpha[u] * dev
        bin_term = bins[key] if tc.item_time_bins else np.zeros_like(v)
        args = dict(shape=bc.prior_shape, rate=bc.prior_rate, strength=bc.prior_strength)
        dev2 = np.bincount(u, dev * dev, n_u)
        key_count = np.bincount(key, minlength=n_i * B)
        # b_{u,day}: one scalar per (user, day) seen in training, 0 when off.
        if bc.user_day_bias:
            day_keys, day_of = np.unique(user_day_key(u, t), return_inverse=True)
        else:
            day_keys, day_of = np.zeros(0, np.int64), np.zeros(v.size, np.int64)
        n_days = day_keys.size
        day_count = np.bincount(day_of, minlength=n_days)[:n_days]
        days, day_term = np.zeros(n_days), np.zeros_like(v)

        acc_P, acc_Q, acc_Y = np.empty((n_u, S * k), F32), np.empty((n_i, S * k), F32), np.empty((n_i, S * kk), F32)
        sums = {"bu": np.zeros(n_u), "bi": np.zeros(n_i), "alpha": np.zeros(n_u), "bins": np.zeros(bins.size),
                "days": np.zeros(n_days)}  # fmt: skip
        self.sample_item_bias_ = np.empty((S, n_i), F32)
        self.sample_user_prior_ = np.zeros((S, 2, k + 2))
        scale = F32(1.0 / np.sqrt(S))

        def dots(left: np.ndarray, right: np.ndarray) -> np.ndarray:
            return pair_dots(indptr, indices, np.ascontiguousarray(left, F32), np.ascontiguousarray(right, F32))

        PZ, QW = P + effect(blocks_u, n_u), Q + effect(blocks_i, n_i)
        resid = v - mu - bu[u] - bi[i] - a_term - bin_term - dots(PZ, QW)
        fixed = bin_term  # the per-rating terms outside the factor and α steps: b_{i,bin} + b_{u,day}
        for h in self.history_:
            h.setdefault("phase", "als")
        n0 = len(self.history_)
        for it in range(bc.n_burn + S):
            t0 = time.perf_counter()
            tau = rng.gamma(bc.prior_shape + v.size / 2.0, 1.0 / (bc.prior_rate + resid @ resid / 2.0))
            sigma = float(1.0 / np.sqrt(tau))
            # [b_u, p_u] against q_i + w_i: the kernel subtracts μ + b_i + p_u·(q_i + w_i); the rest goes to the target.
            zq = dots(effect(blocks_u, n_u), QW) if blocks_u else 0.0
            lam_u, m_u = sample_prior(rng, np.column_stack([bu, P]), **args)
            target = (v - a_term - fixed - zq).astype(F32)
            noise = rng.standard_normal((n_u, k + 1))
            gibbs_half_step(indptr, indices, target, QW, bi, mu, lam_u / tau, m_u, noise, sigma, P, bu)
            qp = dots(P, QW)
            w_a, m_a = tc.reg_drift, 0.0  # α's prior weight (precision over τ) and mean
            if tc.user_drift:  # α_u: a scalar Normal per user
                if not bc.fixed_time_prior:
                    lam, mean = sample_prior(rng, alpha[:, None], **args)
                    w_a, m_a = lam[0] / tau, mean[0]
                e = v - mu - bu[u] - bi[i] - fixed - qp - zq
                prec = dev2 + w_a
                alpha = (np.bincount(u, e * dev, n_u) + w_a * m_a) / prec
                alpha += sigma / np.sqrt(prec) * rng.standard_normal(n_u)
                a_term = alpha[u] * dev
            base = v - mu - bu[u] - bi[i] - a_term - fixed
            for b in blocks_u:  # the y_j, then the user labels' factors: each row after another
                b.draw(base - dots(P + effect(blocks_u, n_u, skip=b), QW), QW, tau, sigma, rng, args)
            PZ = P + effect(blocks_u, n_u)
            for b in blocks_i:  # flipped: the x_u, then the film labels' factors
                b.draw((base - dots(PZ, Q + effect(blocks_i, n_i, skip=b)))[perm], PZ, tau, sigma, rng, args)
            QW = Q + effect(blocks_i, n_i)
            # [b_i, q_i] against p_u + z_u.
            wz = dots(PZ, effect(blocks_i, n_i)) if blocks_i else 0.0
            lam_i, m_i = sample_prior(rng, np.column_stack([bi, Q]), **args)
            target = (v - a_term - fixed - wz)[perm].astype(F32)
            noise = rng.standard_normal((n_i, k + 1))
            gibbs_half_step(i_indptr, i_indices, target, PZ, bu, mu, lam_i / tau, m_i, noise, sigma, Q, bi)
            QW = Q + effect(blocks_i, n_i)
            resid = v - mu - bu[u] - bi[i] - a_term - day_term - dots(PZ, QW)
            if tc.item_time_bins:  # b_{i,bin}: a scalar Normal per item and bin
                w_b, m_b = tc.reg_bin, 0.0
                if not bc.fixed_time_prior:
                    lam, mean = sample_prior(rng, bins[:, None], **args)
                    w_b, m_b = lam[0] / tau, mean[0]
                prec = key_count + w_b
                bins = (np.bincount(key, resid, n_i * B) + w_b * m_b) / prec
                bins += sigma / np.sqrt(prec) * rng.standard_normal(bins.size)
                bin_term = bins[key]
                resid = resid - bin_term
            if n_days:  # b_{u,day}: a scalar Normal per (user, day), its prior drawn like the other groups'
                resid = resid + day_term
                lam, mean = sample_prior(rng, days[:, None], **args)
                prec = day_count + lam[0] / tau
                days = (np.bincount(day_of, resid, n_days) + lam[0] / tau * mean[0]) / prec
                days += sigma / np.sqrt(prec) * rng.standard_normal(n_days)
                day_term = days[day_of]
                resid = resid - day_term
            fixed = bin_term + day_term
            s = it - bc.n_burn
            if s >= 0:
                acc_P[:, s * k : (s + 1) * k] = PZ * scale
                acc_Q[:, s * k : (s + 1) * k] = QW * scale
                acc_Y[:, s * kk : (s + 1) * kk] = user_side.factors * scale
                for name, val in (("bu", bu), ("bi", bi), ("alpha", alpha), ("bins", bins), ("days", days)):
                    sums[name] += val
                self.sample_item_bias_[s] = bi
                self.sample_user_prior_[s, 0] = np.r_[lam_u[0] / tau, w_a, lam_u[1:] / tau]
                self.sample_user_prior_[s, 1] = np.r_[m_u[0], m_a, m_u[1:]]
            entry = {"iteration": n0 + it + 1, "phase": "sample" if s >= 0 else "burn",
                     "train_rmse": float(np.sqrt(resid @ resid / max(v.size, 1))), "sigma": sigma,
                     "seconds": time.perf_counter() - t0}  # fmt: skip
            self.history_.append(entry)
        self.user_factors_, self.item_factors_, self.implicit_factors_ = acc_P, acc_Q, acc_Y
        self.user_bias_ = (sums["bu"] / S).astype(F32)
        self.item_bias_ = (sums["bi"] / S).astype(F32)
        self.user_alpha_ = (sums["alpha"] / S).astype(F32)
        self.item_bin_bias_ = (sums["bins"] / S).astype(F32).reshape(n_i, B if tc.item_time_bins else 0)
        # b_u and a user's b_{u,day} are told apart only by the priors (most ml-100k users rated on one
        # day): move each user's mean day bias (over their ratings) into b_u, so a day not seen in
        # training (every served score, every later rating) keeps the user's level. Seen days predict
        # exactly as before.
        days_mean, owner = sums["days"] / S, day_keys >> DAY_BITS
        level = np.bincount(owner, days_mean * day_count, n_u) / np.maximum(np.bincount(u, minlength=n_u), 1)
        self.user_bias_ = (self.user_bias_ + level).astype(F32)
        self.user_day_keys_ = day_keys.astype(np.int64)
        self.user_day_bias_ = (days_mean - level[owner]).astype(F32)
        self._prepare()  # the averages ``_predict_idx`` falls back on
        raw = self._predict_idx(u, i, t)
        self.fit_info_["train_rmse"] = float(np.sqrt(np.mean((raw - v) ** 2)))
        self.fit_info_["sigma_mean"] = float(np.mean([h["sigma"] for h in self.history_[n0 + bc.n_burn :]]))

    # ------------------------------------------------------------ scoring
    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Per sample, the posterior mean of [b_u, α_u, p_u] with z from the rated films' y_j; averaged.

        Without ratings: the average training user (``_cold_user``), the fallback of ``predict``.
        """
        tc = self.temporal_config
        S, k = self.sample_item_bias_.shape[0], self.config.n_factors
        end = self.time_range_[1]
        if items.size == 0:
            bias, alpha, factors = self._cold_user()
            return {"bias": np.array([bias], F32), "factors": factors[None, :].copy(), "alpha": np.array([alpha], F32),
                    "t_mean": np.array([end]), "scale": np.ones(1, F32)}  # fmt: skip
        n = items.size
        ts = np.full(n, end) if timestamps is None else timestamps.astype(np.float64)
        t_mean = float(ts.mean())
        dev = drift(ts, t_mean, tc.beta) if tc.user_drift else np.zeros(n)
        bin_term = self.item_bin_bias_[items, self._bin(ts)] if tc.item_time_bins else 0.0
        root = np.sqrt(S)
        Qs = (self.item_factors_[items].astype(np.float64) * root).reshape(n, S, k).transpose(1, 0, 2)  # (S, n, k)
        z = np.zeros((S, k))
        if self.implicit_factors_.shape[1]:
            z = (self.implicit_factors_[items].astype(np.float64) * root).reshape(n, S, k).sum(axis=0) / np.sqrt(n)
        design = np.concatenate([np.ones((S, n, 1)), np.broadcast_to(dev[None, :, None], (S, n, 1)), Qs], axis=2)
        target = values.astype(np.float64)[None, :] - self.global_mean_ - self.sample_item_bias_[:, items] - bin_term
        target = target - np.einsum("snk,sk->sn", Qs, z)
        w, m = self.sample_user_prior_[:, 0], self.sample_user_prior_[:, 1]
        A = np.einsum("snd,sne->sde", design, design) + w[:, :, None] * np.eye(k + 2)
        x = np.linalg.solve(A, (np.einsum("snd,sn->sd", design, target) + w * m)[:, :, None])[:, :, 0]
        factors = ((x[:, 2:] + z) / root).reshape(1, S * k).astype(F32)
        return {"bias": np.array([x[:, 0].mean()], F32), "factors": factors, "alpha": np.array([x[:, 1].mean()], F32),
                "t_mean": np.array([t_mean]), "scale": np.ones(1, F32)}  # fmt: skip

    def _prepare(self) -> None:
        super()._prepare()
        # the average user and film, computed once per fit or load: ``predict`` falls back on them per call
        self._cold = (float(self.user_bias_.mean()), float(self.user_alpha_.mean()), self.user_factors_.mean(axis=0))
        self._average_item = (float(self.item_bias_.mean()), self.item_factors_.mean(axis=0))

    def _cold_user(self) -> tuple[float, float, np.ndarray]:
        """The user of whom nothing is known: the average training user (b_u, α_u and p_u + z_u averaged).

        Returns b, α and the factors of shape (n_samples · n_factors,), float32 (each block over √S, as stored).
        """
        return self._cold

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        """``TemporalALS``'s prediction; an unknown user or film is the average one of its side, not zero.

        The learned terms of a side need not average 0 (hierarchical priors learn their means, and
        z_u = |N(u)|^(-1/2) Σ y_j is not centred), so the film's mean rating holds q_i · mean(p_u + z_u),
        which μ + b_i alone would miss. An unknown user gets the average training user's b_u and
        p_u + z_u (no drift); an unknown film the average film's b_i and q_i + w_i (no bins).
        """
        out = super()._predict_idx(u, i, t)
        ku, ki = u >= 0, i >= 0
        bias, _, user = self._cold_user()
        item_bias, item = self._average_item
        out[~ku] += bias
        out[~ki] += item_bias
        warm_item = ~ku & ki
        out[warm_item] += self.item_factors_[i[warm_item]] @ user
        warm_user = ku & ~ki
        out[warm_user] += self.user_factors_[u[warm_user]] @ item
        out[~ku & ~ki] += float(user @ item)
        if t is not None and self.user_day_keys_.size:  # b_{u,day} for the days rated in training
            keys = user_day_key(u, np.asarray(t, dtype=np.float64))
            at = np.minimum(np.searchsorted(self.user_day_keys_, keys), self.user_day_keys_.size - 1)
            seen = ku & (self.user_day_keys_[at] == keys)
            out[seen] += self.user_day_bias_[at[seen]]
        return out

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """As ``Recommender.set_arrays``; a folder saved before b_{u,day} existed loads with none."""
        arrays = {"user_day_keys_": np.zeros(0, np.int64), "user_day_bias_": np.zeros(0, F32), **arrays}
        super().set_arrays(arrays)
