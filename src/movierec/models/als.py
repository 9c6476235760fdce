"""Explicit matrix factorization with biases, fitted by alternating least squares.

r̂(u, i) = μ + b_u + b_i + p_u · q_i ; objective and λ convention in ``ALSConfig``.

References
----------
Zhou, Wilkinson, Schreiber, Pan. "Large-scale parallel collaborative filtering
for the Netflix Prize". AAIM 2008. doi:10.1007/978-3-540-68880-8_32
Koren, Bell, Volinsky. "Matrix factorization techniques for recommender systems".
IEEE Computer 42(8), 2009. doi:10.1109/MC.2009.263
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp

from movierec.config import ALSConfig, RankBy, RankingPolicy
from movierec.data.dataset import Dataset
from movierec.kernels import csr_arrays, ridge_half_step
from movierec.kernels.aligned import aligned_copy, aligned_zeros
from movierec.kernels.als import squared_error
from movierec.models.base import LinearScores, Recommender, UserState
from movierec.models.memory import factor_fit_bytes

IterationCallback = Callable[[int, dict[str, float]], None]
"""Called after each sweep with (iteration starting at 1, {"iteration", "train_rmse", "seconds"}).

Without a callback the training RMSE is computed after the last sweep only (a full pass over the
ratings: about 1.2 s per sweep on 21M ratings), so ``history_`` then holds it for the last entry.
"""


class ALS(Recommender):
    """Explicit biased ALS (ALS-WR), local engine.

    Parameters
    ----------
    config : ALSConfig, optional
        Hyperparameters; defaults documented in ``ALSConfig``.
    callback : IterationCallback, optional
        Progress hook called after each sweep.
    policy : RankingPolicy, optional
        Default ranking: the confidence score with η = 1.25 (chosen on validation splits of the training
        side: docs/decisions/0002) and a guard of 20 ratings (read off ml-100k's guard curve: 0005).

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_factors), float32
    item_factors_ : ndarray of shape (n_items, n_factors), float32
    user_bias_ : ndarray of shape (n_users,), float32, stars
    item_bias_ : ndarray of shape (n_items,), float32, stars
    global_mean_ : float, stars
    history_ : list of dict
        Per sweep: ``iteration``, ``seconds``, and ``train_rmse`` (every sweep with a
        ``callback``, else the last sweep only: ``IterationCallback``).

    Raises
    ------
    FitError
        From ``fit`` when a factor or bias is non-finite (never saved).
    """

    name: ClassVar[str] = "als"
    array_names: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    default_policy: ClassVar[RankingPolicy] = RankingPolicy(
        min_ratings=20, rank_by=RankBy.CONFIDENCE, confidence_weight=1.25
    )

    def __init__(
        self,
        config: ALSConfig | None = None,
        callback: IterationCallback | None = None,
        policy: RankingPolicy | None = None,
    ) -> None:
        super().__init__(policy)
        self.config = config or ALSConfig()
        self.callback = callback

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> ALS:
        return cls(ALSConfig.from_dict(config), policy=policy)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        k = cfg.n_factors
        n_u, n_i = dataset.n_users, dataset.n_items
        # Users are solved first, so only the item side needs a start.
        # Cache-line aligned: the kernels read partner rows whole (kernels.aligned).
        self.user_factors_ = aligned_zeros((n_u, k))
        self.item_factors_ = start_factors(n_i, k, cfg.init_scale, cfg.random_state)
        self.user_bias_ = np.zeros(n_u, dtype=np.float32)
        self.item_bias_ = np.zeros(n_i, dtype=np.float32)
        ui = _kernel_csr(self.user_items_)
        iu = _kernel_csr(self.user_items_.T.tocsr())  # sorted: CSR→CSC→CSR transposes keep rows ascending
        self.history_ = []
        for it in range(1, cfg.n_iter + 1):
            t0 = time.perf_counter()
            self._half(
                ui, self.item_factors_, self.item_bias_, self.user_factors_, self.user_bias_, cg_steps=self._cg_steps
            )
            self._half(
                iu, self.user_factors_, self.user_bias_, self.item_factors_, self.item_bias_, cg_steps=self._cg_steps
            )
            entry: dict[str, Any] = {"iteration": it, "seconds": time.perf_counter() - t0}
            if self.callback or it == cfg.n_iter:
                sse = squared_error(
                    ui.indptr, ui.indices, ui.data, self.user_factors_, self.user_bias_,
                    self.item_factors_, self.item_bias_, self.global_mean_,
                )  # fmt: skip
                entry["train_rmse"] = float(np.sqrt(sse / max(ui.nnz, 1)))
            self.history_.append(entry)
            if self.callback:
                self.callback(it, entry)
        last = self.history_[-1] if self.history_ else {}
        self.fit_info_["train_rmse"] = last.get("train_rmse")

    def fit_memory(self, n_users: int, n_items: int) -> dict[str, int]:
        return factor_fit_bytes(self.config.n_factors, n_users, n_items, "explicit")

    @property
    def _cg_steps(self) -> int:
        """CG steps per row while fitting (0: exact solves)."""
        return self.config.cg_steps if self.config.solver == "cg" else 0

    def _half(
        self,
        rows: sp.csr_matrix | _KernelCSR,
        other_factors: np.ndarray,
        other_bias: np.ndarray,
        factors: np.ndarray,
        bias: np.ndarray,
        offset: np.ndarray | None = None,
        cg_steps: int = 0,
    ) -> None:
        """One half-step through the kernel dispatcher: exact unless ``cg_steps`` > 0 (fitting with ``solver="cg"``)."""
        cfg = self.config
        if offset is None:
            offset = np.zeros(factors.shape[0], dtype=np.float32)
        if cg_steps > 0:  # CG starts from the current values: a non-finite row starts from zero instead
            bad = ~(np.isfinite(bias) & np.isfinite(factors).all(axis=1))
            if bad.any():
                factors[bad], bias[bad] = 0.0, 0.0
        indptr, indices, data = (
            (rows.indptr, rows.indices, rows.data) if isinstance(rows, _KernelCSR) else csr_arrays(rows)
        )
        ridge_half_step(
            indptr,
            indices,
            data,
            other_factors,
            other_bias,
            offset,
            self.global_mean_,
            cfg.reg,
            cfg.bias_reg,
            factors,
            bias,
            cg_steps,
        )

    # ------------------------------------------------------------ scoring
    def _user_terms(self, user_idx: np.ndarray) -> dict[str, np.ndarray]:
        return {"bias": self.user_bias_[user_idx], "factors": self.user_factors_[user_idx]}

    def _fold_in_terms(
        self, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Exactly one user half-step for a single row (same kernel, same objective); zeros without ratings."""
        # One CSR row as plain arrays: this solve builds no sparse matrix (each cost ~25 µs).
        indptr, indices = np.array([0, items.size], dtype=np.int64), items.astype(np.int32)
        row = _KernelCSR(indptr, indices, values.astype(np.float32), (1, self.n_items), int(items.size))
        factors = np.zeros((1, self.item_factors_.shape[1]), dtype=np.float32)
        bias = np.zeros(1, dtype=np.float32)
        self._half(row, self.item_factors_, self.item_bias_, factors, bias)
        return {"bias": bias, "factors": factors}

    def linear_scores(self, states: UserState, target: str = "score") -> LinearScores:
        """r̂ = p_u·q_i + (μ + b_i) + b_u for both targets (an explicit model ranks by its predicted rating)."""
        t = states.terms
        return LinearScores.of(
            t["factors"], self.item_factors_, np.float32(self.global_mean_) + self.item_bias_, t["bias"]
        )

    def _predict_idx(self, u: np.ndarray, i: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        ku, ki = u >= 0, i >= 0
        out = np.full(u.shape, self.global_mean_, dtype=np.float64)
        out[ku] += self.user_bias_[u[ku]]
        out[ki] += self.item_bias_[i[ki]]
        both = ku & ki
        out[both] += np.einsum("ij,ij->i", self.user_factors_[u[both]], self.item_factors_[i[both]])
        return out


def start_factors(n_rows: int, n_factors: int, init_scale: float, random_state: int | None) -> np.ndarray:
    """Random start of a factor side: N(0, 1) · init_scale / sqrt(n_factors), shape (n_rows, n_factors), float32,
    cache-line aligned (``kernels.aligned``). Drawn in float32: a float64 draw was a temporary twice the
    factors' size, the first allocation to fail at a huge rank (benfred/implicit#211)."""
    rng = np.random.default_rng(random_state)
    scale = np.float32(init_scale / np.sqrt(max(n_factors, 1)))
    return aligned_copy(rng.standard_normal((n_rows, n_factors), dtype=np.float32) * scale, np.float32)


class _KernelCSR(NamedTuple):
    """CSR arrays in the half-step kernel's dtypes (int64 indptr, int32 indices, float32 values)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]
    nnz: int


def _kernel_csr(m: sp.csr_matrix) -> _KernelCSR:
    """Sorted CSR arrays converted once per fit to the dtypes ``solve_half_step`` takes.

    Converting inside every half-step copied the index arrays twice per sweep (about
    170 MB per sweep at 21M ratings).
    """
    if not m.has_sorted_indices:
        m = m.copy()
        m.sort_indices()
    return _KernelCSR(
        m.indptr.astype(np.int64, copy=False), m.indices.astype(np.int32, copy=False),
        m.data.astype(np.float32, copy=False), m.shape, m.nnz,
    )  # fmt: skip
