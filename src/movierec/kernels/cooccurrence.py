"""Co-occurrence counts of a 0/1 matrix: XᵀX from its sparsity pattern, the Gram of EASE.

Row u with columns j_1 < … < j_n adds 1 to G[j_a, j_b] for every a ≤ b: n_u(n_u + 1)/2 increments,
where a dense product costs n_cols² multiply-adds per row whatever the row holds. Rows are dealt to
``n_parts`` private accumulators (no shared writes), summed at the end. Counts are exact in int32
below 2³¹ rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def upper_pair_counts(
    indptr: np.ndarray, indices: np.ndarray, n_cols: int, n_parts: int
) -> np.ndarray:  # pragma: no cover - numba
    """G[i, j] for i ≤ j (upper triangle, diagonal included; zero below), int64, shape (n_cols, n_cols).

    Parameters
    ----------
    indptr, indices : CSR structure of X (int64, int32), each row's indices sorted and unique
    n_cols : int
    n_parts : int
        Private accumulators, each n_cols² int32 (rows u ≡ t mod n_parts go to part t).
    """
    n_rows = indptr.size - 1
    parts = np.zeros((n_parts, n_cols, n_cols), dtype=np.int32)
    for t in prange(n_parts):
        acc = parts[t]
        for row in range(t, n_rows, n_parts):
            end = indptr[row + 1]
            for p in range(indptr[row], end):
                counts = acc[indices[p]]
                for q in range(p, end):
                    counts[indices[q]] += 1
    out = np.zeros((n_cols, n_cols), dtype=np.int64)
    for t in range(n_parts):
        out += parts[t]
    return out


__all__ = ["upper_pair_counts"]
