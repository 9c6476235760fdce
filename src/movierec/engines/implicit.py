"""Local engine kernels for implicit-feedback ALS (Hu, Koren, Volinsky 2008).

Kept beside ``engines.local`` and sharing its Cholesky solver; pure
computation on dense positions, parallel over rows, deterministic.

References
----------
Hu, Koren, Volinsky. "Collaborative Filtering for Implicit Feedback Datasets".
ICDM 2008. doi:10.1109/ICDM.2008.22
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from movierec.engines.local import _cholesky_solve


@njit(cache=True, parallel=True, fastmath=True)
def solve_implicit_half_step(
    indptr: np.ndarray,
    indices: np.ndarray,
    confidence: np.ndarray,
    preference: np.ndarray,
    other_factors: np.ndarray,
    gram: np.ndarray,
    reg: float,
    factors: np.ndarray,
) -> None:  # pragma: no cover - numba
    """One weighted-ALS half-step: every row's factors by an exact ridge solve.

    For row u with observed items j (preference p_uj in {0, 1}, confidence
    c_uj), and p = 0, c = 1 for every other item, solves (Hu et al. 2008, eq. 4)

        x_u = (YᵀY + Yᵀ(C_u − I)Y + reg · n_u · I)⁻¹ Yᵀ C_u p_u

    The penalty is multiplied by the row's count n_u, as Spark's
    ``implicitPrefs`` does with ``regParam``, so λ transfers between engines.

    Parameters
    ----------
    indptr, indices : CSR structure of the observed entries (int64, int32)
    confidence : ndarray of shape (nnz,), float32, each >= 1
    preference : ndarray of shape (nnz,), float32, each 0 or 1
    other_factors : ndarray of shape (n_other, n_factors), float32 (fixed side Y)
    gram : ndarray of shape (n_factors, n_factors), float64, YᵀY
    reg : float
    factors : ndarray of shape (n_rows, n_factors), float32, written
    """
    n_rows = factors.shape[0]
    k = other_factors.shape[1]
    for r in prange(n_rows):
        start = indptr[r]
        end = indptr[r + 1]
        n = end - start
        if n == 0:
            for a in range(k):
                factors[r, a] = 0.0
            continue
        A = gram.copy()
        b = np.zeros(k)
        L = np.zeros((k, k))
        for p in range(start, end):
            j = indices[p]
            c = confidence[p]
            cp = c * preference[p]
            cm1 = c - 1.0
            for a in range(k):
                ya = other_factors[j, a]
                b[a] += cp * ya
                w = cm1 * ya
                for c2 in range(a + 1):  # lower triangle, as _cholesky_solve reads
                    A[a, c2] += w * other_factors[j, c2]
        for a in range(k):
            A[a, a] += reg * n
        if _cholesky_solve(A, b, L, k):
            for a in range(k):
                factors[r, a] = b[a]
        else:
            for a in range(k):
                factors[r, a] = np.nan
