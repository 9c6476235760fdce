"""The normal-equation phase alone, for timing it apart from the solves (``worker._phases``, ``alignment``).

Imported lazily: the Spark and LensKit workers must not load Numba (their peak RSS is reported).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from movierec.engines import local


@njit(parallel=True, fastmath=True)
def normal_only(indptr, indices, values, other, other_bias, mu, out):  # pragma: no cover - numba
    """Every row's normal equations (``out[r]`` gets one entry of A), built as ``solve_half_step`` builds them, no solve."""
    n_rows = indptr.size - 1
    k = other.shape[1]
    d = k + 1
    n_chunks = min(n_rows, local.N_CHUNKS)  # as solve_half_step
    for c in prange(n_chunks):
        Z = np.empty((local.PIECE, d + 1), dtype=np.float32)
        t = np.empty(local.PIECE, dtype=np.float32)
        A = np.empty((d, d))
        b = np.empty(d)
        G = np.empty((d + 1, d + 1), dtype=np.float32)
        par = local._blas_params()
        for r in range(c, n_rows, n_chunks):
            s, e = indptr[r], indptr[r + 1]
            nxt = r + n_chunks  # as in solve_half_step: the next row's first partners are asked for now
            if nxt < n_rows:
                head = min(indptr[nxt + 1], indptr[nxt] + local.PREFETCH_AHEAD)
                local._prefetch_rows(indices, indptr[nxt], head, other)
            if e == s:
                continue
            if k >= local.BLAS_MIN_RANK and e - s >= local.BLAS_MIN_ROW:  # as solve_half_step
                ns, ne = (indptr[nxt], indptr[nxt + 1]) if nxt < n_rows else (0, 0)
                local._normal_gram(indices, values, other, other_bias, s, e, mu, A, b, Z, t, G, par, ns, ne)
            else:
                A[:] = 0.0
                b[:] = 0.0
                local._normal_scalar(indices, values, other, other_bias, s, e, mu, A, b)
            out[r] = A[1, 1]
