"""Bayesian matrix factorization by Gibbs sampling ("als-bayes"): ALS half-steps that draw instead of solve.

Model (Salakhutdinov & Mnih 2008, with a diagonal prior as in Bayesian
factorization machines):

    r_ui ~ N(μ + b_u + b_i + p_u · q_i, 1/τ)
    [b_u, p_u] ~ N(m_U, diag(1/λ_U)),   [b_i, q_i] ~ N(m_I, diag(1/λ_I))
    λ_{·,f} ~ Gamma(a₀, b₀),  m_{·,f} | λ_{·,f} ~ N(0, 1/(γ λ_{·,f})),  τ ~ Gamma(a₀, b₀)

Each sweep draws τ, then (λ_U, m_U) and every user row, then (λ_I, m_I) and
every item row, each from its exact conditional. A row's conditional has the
normal equations of an ALS half-step, A = Σ z zᵀ + λ/τ, w̄ = A⁻¹(Σ t z + λ∘m/τ),
and the draw is w̄ + τ^(-1/2) L⁻ᵀ ε (``movierec.kernels.gibbs``). The chain
starts from a few ALS-WR sweeps (``explicit``), discards ``n_burn`` sweeps,
and averages the predictions of the next ``n_samples``:

    r̂(u, i) = μ + (1/S) Σ_s (b_u^s + b_i^s + p_u^s · q_i^s)

which is an ordinary biased factor model with averaged biases and the S
samples' factors concatenated, each scaled by 1/√S (rank S·n_factors). That is
what is stored, so scoring, ``predict`` and ``recommend`` are those of ``ALS``.

Fold-in of a new user: for each stored sample s, the mean of the user's
conditional posterior given that sample's items and user prior
(Rao-Blackwellised: E[b_u + p_u·q_i | sample s] instead of a draw), then the
same average over samples. For a training user this estimates the same
posterior mean as the stored rows, with less Monte Carlo noise.

Hyperpriors are fixed and weak (a₀ = b₀ = γ = 1, libFM's defaults; BPMF's
Gaussian-Wishart prior is replaced by this per-dimension analogue); only
n_factors, n_burn and n_samples are chosen (docs/decisions/0006-als-bayes-defaults.md).

References
----------
Salakhutdinov, Mnih. "Bayesian probabilistic matrix factorization using Markov
chain Monte Carlo". ICML 2008. doi:10.1145/1390156.1390267
Rendle. "Factorization machines with libFM". ACM TIST 3(3), 2012.
doi:10.1145/2168752.2168771 (per-dimension Normal-Gamma hyperpriors, MCMC)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.config import ALSConfig, RankingPolicy, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.kernels import csr_arrays, gibbs_half_step
from movierec.kernels.als import squared_error
from movierec.models.als import ALS


@dataclass(frozen=True)
class BayesConfig:
    """Configuration of Gibbs-sampled Bayesian MF.

    Attributes
    ----------
    explicit : ALSConfig, default ALSConfig(n_factors=5, n_iter=5)
        ``n_factors`` of every sample; ``n_iter`` ALS-WR sweeps (with ``reg``,
        ``bias_reg``, ``init_scale``, ``random_state``) give the chain's start;
        ``min_ratings`` is the recommendation guard as for ``ALS``.
    n_burn : int, default 20
        Gibbs sweeps discarded before averaging. Must be >= 0.
    n_samples : int, default 180
        Gibbs sweeps averaged (S). Stored rank is S · n_factors. Must be >= 1.
    prior_shape, prior_rate : float, default 1.0
        a₀, b₀ of the Gamma hyperpriors of every prior precision and of τ (> 0).
    prior_strength : float, default 1.0
        γ, pseudo-count of the Normal hyperprior of the prior means (> 0).

    Defaults: n_factors 5 was chosen by 3-fold cross-validation inside ml-100k's
    u1.base over {2, 3, 5, 10} (``benchmarks/bayes.py --sections select``; u1.test
    unseen). n_samples: the u1–u5 mean RMSE with 80 / 180 / 380 samples is
    0.9013 / 0.8998 / 0.8991, so 180 is near where it flattens (the stored rank
    is n_samples · n_factors = 900).
    """

    explicit: ALSConfig = ALSConfig(n_factors=5, n_iter=5)
    n_burn: int = 20
    n_samples: int = 180
    prior_shape: float = 1.0
    prior_rate: float = 1.0
    prior_strength: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.n_burn, int) or self.n_burn < 0:
            problems.append(f"n_burn must be an integer >= 0, got {self.n_burn!r}")
        if not isinstance(self.n_samples, int) or self.n_samples < 1:
            problems.append(f"n_samples must be an integer >= 1, got {self.n_samples!r}")
        if not (self.prior_shape > 0 and self.prior_rate > 0 and self.prior_strength > 0):
            problems.append(
                f"prior_shape, prior_rate and prior_strength must be > 0, got "
                f"{self.prior_shape!r}, {self.prior_rate!r}, {self.prior_strength!r}"
            )
        if problems:
            raise DataValidationError("invalid BayesConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BayesConfig:
        """Build from a dict (``explicit`` as a dict), refusing unknown keys (``DataValidationError``).

        A partial ``explicit`` dict starts from this class's default (5 factors, 5 sweeps).
        """
        v = dict(values)
        if isinstance(v.get("explicit"), dict):
            v["explicit"] = config_from_dict(ALSConfig, {**asdict(cls.explicit), **v["explicit"]})
        return config_from_dict(cls, v)


def sample_prior(
    rng: np.random.Generator, X: np.ndarray, shape: float, rate: float, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw per-column (λ_f, m_f) from their Normal-Gamma posterior given the rows of X.

    With prior λ ~ Gamma(a₀, b₀) (rate b₀) and m | λ ~ N(0, 1/(γλ)), for the
    n values x of a column:

        λ ~ Gamma(a₀ + n/2,  b₀ + ½ (Σ x² − (Σ x)² / (n + γ)))
        m | λ ~ N(Σ x / (n + γ),  1 / ((n + γ) λ))

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_factors + 1): bias column first, then factors.

    Returns
    -------
    precision, mean : ndarrays of shape (n_factors + 1,), float64
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    sx = X.sum(axis=0)
    ss = np.maximum((X * X).sum(axis=0) - sx * sx / (n + strength), 0.0)
    lam = rng.gamma(shape + n / 2.0, 1.0 / (rate + ss / 2.0))
    mean = rng.normal(sx / (n + strength), 1.0 / np.sqrt((n + strength) * lam))
    return lam, mean


class BayesianALS(ALS):
    """Gibbs-sampled Bayesian MF with biases ("als-bayes"), served as one averaged factor model.

    Parameters
    ----------
    config : BayesConfig, optional

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_samples · n_factors), float32
        The samples' user factors side by side, each block divided by √S.
    item_factors_ : ndarray of shape (n_items, n_samples · n_factors), float32
        Likewise for items, so user_factors_ @ item_factors_.T is the posterior
        mean of P Qᵀ.
    user_bias_, item_bias_ : ndarrays of shape (n_users,), (n_items,), float32, stars
        Posterior means of b_u and b_i.
    sample_item_bias_ : ndarray of shape (n_samples, n_items), float32
        b_i of every sample (for fold-in).
    sample_user_prior_ : ndarray of shape (n_samples, 2, n_factors + 1), float64
        Per sample, the user prior used to draw it: row 0 the weight λ_U/τ,
        row 1 the mean m_U (bias first).
    history_ : list of dict
        Per sweep: ``iteration`` (warm-start sweeps first), ``phase``
        ("als", "burn" or "sample"), ``train_rmse`` of that sweep's draw (of the "als" sweeps only
        the last without a ``callback``), ``sigma`` ("burn" and "sample"), ``seconds``.

    Raises
    ------
    FitError
        From ``fit`` when a learned array is non-finite.

    References
    ----------
    Salakhutdinov, Mnih. ICML 2008. doi:10.1145/1390156.1390267
    """

    name: ClassVar[str] = "als-bayes"
    array_names: ClassVar[tuple[str, ...]] = (
        "user_factors_", "item_factors_", "user_bias_", "item_bias_", "sample_item_bias_", "sample_user_prior_",
    )  # fmt: skip

    default_policy: ClassVar[RankingPolicy] = RankingPolicy(min_ratings=20)

    def __init__(self, config: BayesConfig | None = None, policy: RankingPolicy | None = None) -> None:
        self.bayes_config = config or BayesConfig()
        super().__init__(self.bayes_config.explicit, policy=policy)

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> BayesianALS:
        return cls(BayesConfig.from_dict(config), policy=policy)

    def config_dict(self) -> dict[str, Any]:
        return self.bayes_config.to_dict()

    @property
    def n_sweeps(self) -> int:
        """Sweeps of a fit (ALS-WR start + burn-in + samples): the ``callback`` is called this many times."""
        return self.config.n_iter + self.bayes_config.n_burn + self.bayes_config.n_samples

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: Dataset) -> None:
        super()._fit(dataset)  # ALS-WR sweeps: the chain's start
        bc = self.bayes_config
        k, S = self.config.n_factors, bc.n_samples
        rng = np.random.default_rng([self.config.random_state, 1])
        ui = self.user_items_
        iu = ui.T.tocsr()
        iu.sort_indices()
        n_u, n_i = ui.shape
        P, bu, Q, bi = self.user_factors_, self.user_bias_, self.item_factors_, self.item_bias_
        acc_P = np.empty((n_u, S * k), dtype=np.float32)
        acc_Q = np.empty((n_i, S * k), dtype=np.float32)
        sum_bu = np.zeros(n_u)
        sum_bi = np.zeros(n_i)
        self.sample_item_bias_ = np.empty((S, n_i), dtype=np.float32)
        self.sample_user_prior_ = np.empty((S, 2, k + 1))
        scale = np.float32(1.0 / np.sqrt(S))
        args = dict(shape=bc.prior_shape, rate=bc.prior_rate, strength=bc.prior_strength)
        indptr = ui.indptr.astype(np.int64, copy=False)
        sse = squared_error(indptr, ui.indices, ui.data, P, bu, Q, bi, self.global_mean_)
        n0 = len(self.history_)
        for it in range(bc.n_burn + S):
            t0 = time.perf_counter()
            tau = rng.gamma(bc.prior_shape + ui.nnz / 2.0, 1.0 / (bc.prior_rate + sse / 2.0))
            sigma = float(1.0 / np.sqrt(tau))
            lam_u, m_u = sample_prior(rng, np.column_stack([bu, P]), **args)
            self._draw(ui, Q, bi, lam_u / tau, m_u, rng.standard_normal((n_u, k + 1)), sigma, P, bu)
            lam_i, m_i = sample_prior(rng, np.column_stack([bi, Q]), **args)
            self._draw(iu, P, bu, lam_i / tau, m_i, rng.standard_normal((n_i, k + 1)), sigma, Q, bi)
            sse = squared_error(indptr, ui.indices, ui.data, P, bu, Q, bi, self.global_mean_)
            s = it - bc.n_burn
            if s >= 0:
                acc_P[:, s * k : (s + 1) * k] = P * scale
                acc_Q[:, s * k : (s + 1) * k] = Q * scale
                sum_bu += bu
                sum_bi += bi
                self.sample_item_bias_[s] = bi
                self.sample_user_prior_[s, 0] = lam_u / tau
                self.sample_user_prior_[s, 1] = m_u
            entry: dict[str, Any] = {"iteration": n0 + it + 1, "phase": "sample" if s >= 0 else "burn",
                     "train_rmse": float(np.sqrt(sse / max(ui.nnz, 1))), "sigma": sigma,
                     "seconds": time.perf_counter() - t0}  # fmt: skip
            self.history_.append(entry)
            if self.callback:
                self.callback(n0 + it + 1, entry)
        for h in self.history_[:n0]:
            h.setdefault("phase", "als")
        self.user_factors_, self.item_factors_ = acc_P, acc_Q
        self.user_bias_ = (sum_bu / S).astype(np.float32)
        self.item_bias_ = (sum_bi / S).astype(np.float32)
        pred_sse = squared_error(
            indptr, ui.indices, ui.data, self.user_factors_, self.user_bias_, self.item_factors_, self.item_bias_,
            self.global_mean_,
        )  # fmt: skip
        self.fit_info_["train_rmse"] = float(np.sqrt(pred_sse / max(ui.nnz, 1)))
        self.fit_info_["sigma_mean"] = float(np.mean([h["sigma"] for h in self.history_[n0 + bc.n_burn :]]))

    def _draw(
        self, rows: sp.csr_matrix, other_f: np.ndarray, other_b: np.ndarray, weight: np.ndarray, mean: np.ndarray,
        noise: np.ndarray, sigma: float, factors: np.ndarray, bias: np.ndarray,
    ) -> None:  # fmt: skip
        """One Gibbs half-step over ``rows`` (``gibbs_half_step``), BLAS single-threaded inside."""
        indptr, indices, data = csr_arrays(rows)
        gibbs_half_step(
            indptr, indices, data, other_f, other_b, self.global_mean_, weight, mean, noise, sigma, factors, bias
        )

    # ------------------------------------------------------------ scoring
    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Per sample, the user's conditional posterior mean; then the average over samples.

        Without ratings: zeros, so a cold user gets μ + b_i, the fallback of ``predict``.
        """
        S, k = self.sample_item_bias_.shape[0], self.config.n_factors
        if items.size == 0:
            return {"bias": np.zeros(1, np.float32), "factors": np.zeros((1, S * k), np.float32)}
        idx = items
        Y = self.item_factors_[idx].astype(np.float64).reshape(idx.size, S, k) * np.sqrt(S)  # (n, S, k)
        Z = np.concatenate([np.ones((idx.size, S, 1)), Y], axis=2).transpose(1, 0, 2)  # (S, n, k+1)
        # targets per sample, shape (S, n)
        t = values.astype(np.float64)[None, :] - self.global_mean_ - self.sample_item_bias_[:, idx]
        w, m = self.sample_user_prior_[:, 0], self.sample_user_prior_[:, 1]
        A = np.einsum("snd,sne->sde", Z, Z) + w[:, :, None] * np.eye(k + 1)
        rhs = np.einsum("snd,sn->sd", Z, t) + w * m
        x = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]  # (S, k+1)
        bias = np.array([x[:, 0].mean()], dtype=np.float32)
        factors = (x[:, 1:] / np.sqrt(S)).reshape(1, S * k).astype(np.float32)
        return {"bias": bias, "factors": factors}
