"""The reference route: every half-step as an obviously correct NumPy computation, row by row.

Selected with ``MOVIEREC_KERNEL=reference`` (``movierec.kernels.route``). Each function has the
signature of its fast counterpart and solves the same system exactly in float64 with
``numpy.linalg``; it is the oracle the fast route is tested against on every model. Slow: for tests
and for checking a result, not for data of any size. Conjugate-gradient rows (``cg_steps``) are
solved exactly here: CG approximates this solve.
"""

from __future__ import annotations

import numpy as np


def _rows(indptr: np.ndarray, r: int) -> slice:
    return slice(int(indptr[r]), int(indptr[r + 1]))


def ridge_half_step(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, other_factors: np.ndarray, other_bias: np.ndarray,
    offset: np.ndarray, global_mean: float, reg: float, bias_reg: float, factors: np.ndarray, bias: np.ndarray,
    cg_steps: int = 0,
) -> None:  # fmt: skip
    """Per row r: [b, x] = argmin Σ_j (v − μ − offset_r − b_j − b − x·y_j)² + λ_b n b² + λ n ‖x‖².

    As ``als.solve_half_step``.
    """
    k = other_factors.shape[1]
    for r in range(factors.shape[0]):
        s = _rows(indptr, r)
        n = s.stop - s.start
        if n == 0:
            bias[r], factors[r] = 0.0, 0.0
            continue
        j = indices[s]
        Z = np.column_stack([np.ones(n), other_factors[j].astype(np.float64)])
        t = values[s].astype(np.float64) - global_mean - offset[r] - other_bias[j]
        A = Z.T @ Z + np.diag([bias_reg * n] + [reg * n] * k)
        try:
            w = np.linalg.solve(A, Z.T @ t)
        except np.linalg.LinAlgError:
            w = np.full(k + 1, np.nan)
        bias[r], factors[r] = w[0], w[1:]


def implicit_half_step(
    indptr: np.ndarray, indices: np.ndarray, confidence: np.ndarray, preference: np.ndarray,
    other_factors: np.ndarray, gram: np.ndarray, reg: float, factors: np.ndarray, cg_steps: int = 0,
) -> None:  # fmt: skip
    """Per row u: x_u = (YᵀC_uY + λ n_u I)⁻¹ YᵀC_u p_u over every item (Hu et al. 2008, eq. 4)."""
    Y = other_factors.astype(np.float64)
    k = Y.shape[1]
    for r in range(factors.shape[0]):
        s = _rows(indptr, r)
        n = s.stop - s.start
        if n == 0:
            factors[r] = 0.0
            continue
        j, c, p = indices[s], confidence[s].astype(np.float64), preference[s].astype(np.float64)
        A = Y.T @ Y + (Y[j].T * (c - 1.0)) @ Y[j] + reg * n * np.eye(k)
        factors[r] = np.linalg.solve(A, Y[j].T @ (c * p))


def gibbs_half_step(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, other_factors: np.ndarray, other_bias: np.ndarray,
    global_mean: float, prior_weight: np.ndarray, prior_mean: np.ndarray, noise: np.ndarray, sigma: float,
    factors: np.ndarray, bias: np.ndarray,
) -> None:  # fmt: skip
    """Per row: A = ZᵀZ + H, w̄ = A⁻¹(Zᵀt + Hm), [b, x] = w̄ + σ L⁻ᵀ ε (as ``gibbs.gibbs_half_step``)."""
    draw = noise.shape[0] == factors.shape[0] and factors.shape[0] > 0
    for r in range(factors.shape[0]):
        s = _rows(indptr, r)
        j = indices[s]
        Z = np.column_stack([np.ones(j.size), other_factors[j].astype(np.float64)])
        t = values[s].astype(np.float64) - global_mean - other_bias[j]
        A = Z.T @ Z + np.diag(prior_weight)
        w = np.linalg.solve(A, Z.T @ t + prior_weight * prior_mean)
        if draw:
            L = np.linalg.cholesky(A)
            w = w + sigma * np.linalg.solve(L.T, noise[r])
        bias[r], factors[r] = w[0], w[1:]


def implicit_gibbs_step(
    indptr: np.ndarray, indices: np.ndarray, row_scale: np.ndarray, gram: np.ndarray, cross: np.ndarray,
    prior_weight: np.ndarray, prior_mean: np.ndarray, noise: np.ndarray, sigma: float, factors: np.ndarray,
    sums: np.ndarray,
) -> None:  # fmt: skip
    """Per row j in order: A = Σ s²G + H, ȳ = A⁻¹(Σ s(c − G z⁻) + Hm), draw, z += s Δy.

    As ``svdpp.implicit_gibbs_step``.
    """
    draw = noise.shape[0] == factors.shape[0] and factors.shape[0] > 0
    for j in range(factors.shape[0]):
        u = indices[_rows(indptr, j)]
        s = row_scale[u]
        old = factors[j].astype(np.float64)
        rest = sums[u] - s[:, None] * old
        A = np.einsum("u,uab->ab", s * s, gram[u]) + np.diag(prior_weight)
        rhs = (s[:, None] * (cross[u] - np.einsum("uab,ub->ua", gram[u], rest))).sum(axis=0)
        y = np.linalg.solve(A, rhs + prior_weight * prior_mean)
        if draw:
            y = y + sigma * np.linalg.solve(np.linalg.cholesky(A).T, noise[j])
        factors[j] = y
        sums[u] += s[:, None] * (factors[j].astype(np.float64) - old)


def scaled_bias_half_step(
    indptr: np.ndarray, indices: np.ndarray, targets: np.ndarray, coef: np.ndarray, other_factors: np.ndarray,
    reg: float, bias_reg: float, factors: np.ndarray, bias: np.ndarray,
) -> None:  # fmt: skip
    """Per row: [b, x] = argmin Σ_p (t_p − s_p b − x·y_j)² + λ_b n b² + λ n ‖x‖².

    As ``temporal.scaled_bias_half_step``.
    """
    k = other_factors.shape[1]
    for r in range(factors.shape[0]):
        s = _rows(indptr, r)
        n = s.stop - s.start
        if n == 0:
            bias[r], factors[r] = 0.0, 0.0
            continue
        Z = np.column_stack([coef[s].astype(np.float64), other_factors[indices[s]].astype(np.float64)])
        A = Z.T @ Z + np.diag([bias_reg * n] + [reg * n] * k)
        w = np.linalg.solve(A, Z.T @ targets[s].astype(np.float64))
        bias[r], factors[r] = w[0], w[1:]
