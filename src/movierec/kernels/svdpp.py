"""Local engine: the Gibbs step of SVD++'s implicit-feedback factors y_j (Numba, sequential over rows).

In SVD++ a user's effective factor is p_u + z_u with z_u = s_u Σ_{j∈N(u)} y_j, s_u = |N(u)|^(-1/2)
(Koren 2008). Given everything else, the ratings enter the y's only through each user's

    G_u = Σ_{i∈R(u)} q_i q_iᵀ,   c_u = Σ_{i∈R(u)} t_ui q_i,

t_ui being the rating minus every term of r̂ but q_i · z_u, so the log-likelihood in the y's is
−τ/2 Σ_u (z_uᵀ G_u z_u − 2 z_uᵀ c_u). The y's of two films rated by one user are coupled through
z_u, so the rows are drawn one after another (a Gibbs sweep over rows), each from its exact
conditional, and z_u is updated after each draw.

References
----------
Koren. "Factorization meets the neighborhood". KDD 2008. doi:10.1145/1401890.1401944 (SVD++)
Rendle, Zhang, Koren. "On the difficulty of evaluating baselines". arXiv:1905.01395, 2019
(Bayesian SVD++ by Gibbs sampling)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from movierec.kernels.als import cholesky_solve
from movierec.kernels.gibbs import add_draw


@njit(cache=True, fastmath=True)
def implicit_gibbs_step(
    indptr: np.ndarray,
    indices: np.ndarray,
    row_scale: np.ndarray,
    gram: np.ndarray,
    cross: np.ndarray,
    prior_weight: np.ndarray,
    prior_mean: np.ndarray,
    noise: np.ndarray,
    sigma: float,
    factors: np.ndarray,
    sums: np.ndarray,
) -> None:  # pragma: no cover - numba
    """Draw every y_j in turn from its conditional (or set its mean), keeping z_u = s_u Σ y_j current.

    For row j with users u (those with j ∈ N(u)), z_u⁻ = z_u − s_u y_j and H = diag(prior_weight):

        A = Σ_u s_u² G_u + H,   ȳ = A⁻¹ (Σ_u s_u (c_u − G_u z_u⁻) + H m),
        y_j = ȳ + σ · L⁻ᵀ ε,   A = L Lᵀ,  ε = noise[j],

    then z_u = z_u⁻ + s_u y_j. With ``noise`` of zero rows the mean ȳ is written instead (no draw).
    A row without users is drawn from (or set to the mean of) the prior alone.

    Parameters
    ----------
    indptr, indices : CSR arrays of the implicit relation, rows = films j, columns = users u
        with j ∈ N(u) (int64, int32)
    row_scale : ndarray of shape (n_users,), float64 — s_u = |N(u)|^(-1/2) (0 for an empty N(u))
    gram : ndarray of shape (n_users, n_factors, n_factors), float64 — G_u
    cross : ndarray of shape (n_users, n_factors), float64 — c_u, stars
    prior_weight, prior_mean : ndarrays of shape (n_factors,), float64 — prior precision / τ, prior mean
    noise : ndarray of shape (n_items, n_factors) or (0, n_factors), float64 — standard normal draws
    sigma : float — noise standard deviation σ = τ^(-1/2), stars
    factors : ndarray of shape (n_items, n_factors), float32 — the y_j, read and written
    sums : ndarray of shape (n_users, n_factors), float64 — the z_u, read and written
    """
    n_rows = factors.shape[0]
    k = factors.shape[1]
    draw = noise.shape[0] == n_rows and n_rows > 0
    A = np.empty((k, k))
    b = np.empty(k)
    L = np.empty((k, k))
    e = np.empty(k)
    old = np.empty(k)
    for j in range(n_rows):
        A[:] = 0.0
        b[:] = 0.0
        for a in range(k):
            old[a] = factors[j, a]
        for p in range(indptr[j], indptr[j + 1]):
            u = indices[p]
            s = row_scale[u]
            for a in range(k):
                zr = 0.0
                for c in range(k):
                    g = gram[u, a, c]
                    A[a, c] += s * s * g
                    zr += g * (sums[u, c] - s * old[c])
                b[a] += s * (cross[u, a] - zr)
        for a in range(k):
            A[a, a] += prior_weight[a]
            b[a] += prior_weight[a] * prior_mean[a]
        if not cholesky_solve(A, b, L, k):
            for a in range(k):
                factors[j, a] = np.nan
            continue
        if draw:
            add_draw(L, noise[j], sigma, k, e, b)
        for a in range(k):
            factors[j, a] = b[a]
        for p in range(indptr[j], indptr[j + 1]):
            u = indices[p]
            s = row_scale[u]
            for a in range(k):
                sums[u, a] += s * (np.float32(b[a]) - old[a])
