"""Local engine helpers for the time-aware model: per-rating dot products, parallel."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, fastmath=True)
def pair_dots(indptr: np.ndarray, indices: np.ndarray, row_factors: np.ndarray, col_factors: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """p_r · q_j for every stored entry of a CSR matrix, in storage order.

    Returns
    -------
    ndarray of shape (nnz,), float64
    """
    out = np.zeros(indices.shape[0])
    k = row_factors.shape[1]
    for r in prange(row_factors.shape[0]):
        for p in range(indptr[r], indptr[r + 1]):
            j = indices[p]
            s = 0.0
            for a in range(k):
                s += row_factors[r, a] * col_factors[j, a]
            out[p] = s
    return out
