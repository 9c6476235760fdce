"""A slow, obviously-correct NumPy ALS: the oracle for the fast kernels and for Spark."""

from __future__ import annotations

import numpy as np


def reference_half_step(R: np.ndarray, mask: np.ndarray, other_f: np.ndarray, other_b: np.ndarray,
                        mu: float, reg: float, bias_reg: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Solve every row's [b, x] of  Σ_j∈rated (r − μ − b_j − b − x·y_j)² + bias_reg·n·b² + reg·n·‖x‖².

    R, mask: dense (n_rows, n_other) ratings and observed mask. Float64 throughout.
    """
    n_rows, k = R.shape[0], other_f.shape[1]
    F = np.zeros((n_rows, k))
    B = np.zeros(n_rows)
    for r in range(n_rows):
        cols = np.flatnonzero(mask[r])
        n = cols.size
        if n == 0:
            continue
        Z = np.hstack([np.ones((n, 1)), other_f[cols].astype(np.float64)])
        t = R[r, cols] - mu - other_b[cols]
        A = Z.T @ Z + np.diag([bias_reg * n] + [reg * n] * k)
        w = np.linalg.solve(A, Z.T @ t)
        B[r], F[r] = w[0], w[1:]
    return F, B


def reference_als(R: np.ndarray, mask: np.ndarray, item_f0: np.ndarray, n_iter: int, reg: float, bias_reg: float):
    """Full ALS from given initial item factors; returns (user_f, user_b, item_f, item_b, mu)."""
    mu = R[mask].mean()
    item_f = item_f0.astype(np.float64)
    item_b = np.zeros(R.shape[1])
    for _ in range(n_iter):
        user_f, user_b = reference_half_step(R, mask, item_f, item_b, mu, reg, bias_reg)
        item_f, item_b = reference_half_step(R.T, mask.T, user_f, user_b, mu, reg, bias_reg)
    return user_f, user_b, item_f, item_b, mu
