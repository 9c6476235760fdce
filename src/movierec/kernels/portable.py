"""Plain-Numba stand-ins for ``kernels._fast``: the same signatures, no CPU-specific code.

Used when ``movierec.kernels._fast`` is removed (or to check that nothing depends on it): long rows'
normal equations one rating at a time in float64, no prefetching, and ``sgemm_abt`` as loops. Results
equal the fast route's to float32 rounding; speed does not.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PIECE = 224
"""Rows of the work block the callers allocate (kept equal to the fast route's for one buffer layout)."""
PREFETCH_AHEAD = 0
"""No prefetching here."""


@njit(cache=True)
def blas_params():  # pragma: no cover - numba
    """Unused scalar buffers (the fast route's BLAS arguments), for one call signature."""
    return np.zeros(6, dtype=np.int32), np.ones(2, dtype=np.float32), np.empty(2, dtype=np.int8)


@njit(cache=True)
def prefetch_lines(stride):  # pragma: no cover - numba
    return 0


@njit(cache=True)
def prefetch_row(addr, stride, lines, j):  # pragma: no cover - numba
    return None


@njit(cache=True)
def prefetch_rows(indices, start, end, other_factors):  # pragma: no cover - numba
    return None


@njit(cache=True, fastmath=True)
def normal_scalar(indices, values, other_factors, other_bias, start, end, base, A, b):  # pragma: no cover - numba
    """Add the lower triangle of ZᵀZ and Zᵀt (Z = [1, y_j], t = v − base − b_j) into A and b, in float64."""
    k = other_factors.shape[1]
    d = k + 1
    z = np.empty(d)
    z[0] = 1.0
    for p in range(start, end):
        j = indices[p]
        t = values[p] - base - other_bias[j]
        for a in range(k):
            z[a + 1] = other_factors[j, a]
        for a in range(d):
            za = z[a]
            b[a] += t * za
            for c in range(a + 1):
                A[a, c] += za * z[c]


@njit(cache=True, fastmath=True)
def normal_equations(
    indices, values, other_factors, other_bias, start, end, base, A, b, Z, G, par, next_start=0, next_end=0
):  # pragma: no cover - numba
    """A's lower triangle and b set to ZᵀZ and Zᵀt of a row (``normal_scalar`` from zero)."""
    A[:] = 0.0
    b[:] = 0.0
    normal_scalar(indices, values, other_factors, other_bias, start, end, base, A, b)


@njit(cache=True)
def sgemm_abt(a, b, c):  # pragma: no cover - numba
    """``c[:m, :n] = a @ b.T`` in float32 loops."""
    m, k = a.shape
    n = b.shape[0]
    for i in range(m):
        for j in range(n):
            s = np.float32(0.0)
            for p in range(k):
                s += a[i, p] * b[j, p]
            c[i, j] = s
