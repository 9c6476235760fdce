"""Local engine: the Gibbs half-step of Bayesian matrix factorization (Numba, parallel over rows).

Same normal equations as the ALS half-step in ``movierec.kernels.als`` (and the
same helpers to build them), with a Gaussian prior N(m, diag(1/(τ·h))) in place
of the count-scaled ridge penalty, and a draw from the row's conditional
posterior in place of its mode. Noise is drawn by the caller (one seeded NumPy
generator), so results do not depend on the number of threads.

References
----------
Salakhutdinov, Mnih. "Bayesian probabilistic matrix factorization using Markov
chain Monte Carlo". ICML 2008. doi:10.1145/1390156.1390267
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from movierec.kernels.als import (
    BLAS_MIN_RANK,
    BLAS_MIN_ROW,
    PIECE,
    blas_params,
    cholesky_solve,
    normal_equations,
    normal_scalar,
)


@njit(cache=True, inline="always", fastmath=True)
def add_draw(L, noise, sigma, d, e, b):  # pragma: no cover - numba
    """b += σ·e with e ~ N(0, A⁻¹), A = L·Lᵀ: the backward solve Lᵀ e = ε of the standard normals ``noise``."""
    for i in range(d - 1, -1, -1):
        acc = noise[i]
        for p in range(i + 1, d):
            acc -= L[p, i] * e[p]
        e[i] = acc / L[i, i]
    for a in range(d):
        b[a] += sigma * e[a]


@njit(cache=True, parallel=True, fastmath=True)
def gibbs_half_step(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    other_factors: np.ndarray,
    other_bias: np.ndarray,
    global_mean: float,
    prior_weight: np.ndarray,
    prior_mean: np.ndarray,
    noise: np.ndarray,
    sigma: float,
    factors: np.ndarray,
    bias: np.ndarray,
) -> None:  # pragma: no cover - numba
    """Draw every row's [b, x] from its conditional posterior (or set its mean).

    For row r with ratings (j, v) in the CSR slice, z_j = [1, y_j] and
    t_j = v − μ − b_other[j], with H = diag(prior_weight):

        A = Σ_j z_j z_jᵀ + H,   w̄ = A⁻¹ (Σ_j t_j z_j + H m),
        [b, x] = w̄ + σ · L⁻ᵀ ε,   A = L Lᵀ (Cholesky),  ε = noise[r],

    so [b, x] ~ N(w̄, σ² A⁻¹): the exact conditional of a row under the
    likelihood N(r̂, σ²) and the prior N(m, σ² H⁻¹) (prior_weight is the
    prior precision divided by the noise precision τ = 1/σ²). With ``noise``
    of zero rows, the mean w̄ is written instead (no draw). Rows without
    ratings draw from (or get the mean of) the prior alone.

    Parameters
    ----------
    indptr, indices, values : CSR arrays of the rows (int64, int32, float32)
    other_factors : ndarray of shape (n_other, n_factors), float32 (fixed side)
    other_bias : ndarray of shape (n_other,), float32 (fixed side)
    global_mean : float, stars
    prior_weight : ndarray of shape (n_factors + 1,), float64, > 0
        H's diagonal, bias first.
    prior_mean : ndarray of shape (n_factors + 1,), float64
        m, bias first.
    noise : ndarray of shape (n_rows, n_factors + 1) or (0, n_factors + 1), float64
        Standard normal draws ε, or no rows for the posterior mean.
    sigma : float
        Noise standard deviation σ in stars.
    factors : ndarray of shape (n_rows, n_factors), float32, written
    bias : ndarray of shape (n_rows,), float32, written

    References
    ----------
    Salakhutdinov, Mnih. ICML 2008. doi:10.1145/1390156.1390267 (the
    conditional of a user or item row, here with a diagonal prior precision as
    in Bayesian factorization machines).
    """
    n_rows = factors.shape[0]
    k = other_factors.shape[1]
    d = k + 1
    use_blas = k >= BLAS_MIN_RANK
    draw = noise.shape[0] == n_rows and n_rows > 0
    n_chunks = min(n_rows, 64 * 16)
    for c in prange(n_chunks):
        Z = np.empty((PIECE, d + 1), dtype=np.float32)
        A = np.empty((d, d))
        b = np.empty(d)
        L = np.empty((d, d))
        e = np.empty(d)
        G = np.empty((d + 1, d + 1), dtype=np.float32)
        par = blas_params()
        for r in range(c, n_rows, n_chunks):
            start = indptr[r]
            end = indptr[r + 1]
            A[:] = 0.0
            b[:] = 0.0
            if use_blas and end - start >= BLAS_MIN_ROW:
                normal_equations(indices, values, other_factors, other_bias, start, end, global_mean, A, b, Z, G, par)
            elif end > start:
                normal_scalar(indices, values, other_factors, other_bias, start, end, global_mean, A, b)
            for a in range(d):
                A[a, a] += prior_weight[a]
                b[a] += prior_weight[a] * prior_mean[a]
            if not cholesky_solve(A, b, L, d):
                bias[r] = np.nan
                for a in range(k):
                    factors[r, a] = np.nan
                continue
            if draw:
                add_draw(L, noise[r], sigma, d, e, b)
            bias[r] = b[0]
            for a in range(k):
                factors[r, a] = b[a + 1]
