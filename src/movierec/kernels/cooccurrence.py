"""Co-occurrence counts of a 0/1 matrix: XᵀX from its sparsity pattern, the Gram of EASE.

Row u with columns j_1 < … < j_n adds 1 to G[j_a, j_b] for every a ≤ b: n_u(n_u + 1)/2 increments,
where a dense product costs n_cols² multiply-adds per row whatever the row holds. Rows are dealt to
``n_parts`` private int32 accumulators (no shared writes), summed at the end into the symmetric
float64 result. Counts are exact: an entry of one accumulator is at most its number of rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def pair_counts(indptr: np.ndarray, indices: np.ndarray, n_cols: int, n_parts: int) -> np.ndarray:  # pragma: no cover
    """G = XᵀX, symmetric, float64, shape (n_cols, n_cols), from X's CSR structure.

    Parameters
    ----------
    indptr, indices : CSR structure of X (int64, int32), each row's indices sorted and unique
    n_cols : int
    n_parts : int
        Private accumulators of n_cols² int32 each (rows u ≡ t mod n_parts go to part t); memory
        while counting is 4·n_parts·n_cols² bytes plus the 8·n_cols² of the result.
    """
    n_rows = indptr.size - 1
    parts = np.zeros((n_parts, n_cols, n_cols), dtype=np.int32)
    for t in prange(n_parts):
        acc = parts[t]
        for row in range(t, n_rows, n_parts):
            end = indptr[row + 1]
            for p in range(indptr[row], end):
                counts = acc[indices[p]]
                for q in range(p, end):  # j ≥ i: the upper triangle
                    counts[indices[q]] += 1
    out = np.empty((n_cols, n_cols), dtype=np.float64)
    for i in prange(n_cols):
        for j in range(i, n_cols):
            s = 0
            for t in range(n_parts):
                s += parts[t, i, j]
            out[i, j] = s
            out[j, i] = s
    return out


__all__ = ["pair_counts"]
