"""BLAS ``sgemm`` called by symbol from Numba kernels, on the calling thread.

SciPy's Fortran sgemm is registered under a symbol name: the address is registered anew in every
process (here, on import), so the compiled kernels stay cacheable on disk (a ctypes pointer would
be baked into the cache and forbid it).
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS whose sgemm we call)
from numba import njit, types
from numba.extending import get_cython_function_address

_llvm.add_symbol("movierec_sgemm", get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
sgemm = types.ExternalFunction("movierec_sgemm", types.void(*([types.voidptr] * 13)))
"""Fortran ``sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)``, every argument a pointer."""


@njit(cache=True)
def blas_params():  # pragma: no cover - numba
    """Per-thread scalar buffers for the Fortran BLAS call (ints, floats, chars)."""
    ipar = np.zeros(6, dtype=np.int32)
    fpar = np.ones(2, dtype=np.float32)  # alpha = 1, beta = 1 (accumulate)
    cpar = np.empty(2, dtype=np.int8)
    cpar[0] = 78  # 'N'
    cpar[1] = 84  # 'T'
    return ipar, fpar, cpar


@njit(cache=True)
def sgemm_abt(a, b, c):  # pragma: no cover - numba
    """``c[:m, :n] = a @ b.T`` by BLAS ``sgemm`` on the calling thread (no copies).

    ``a`` (m × k) and ``b`` (n × k) float32 with contiguous rows, ``c`` float32 with
    contiguous rows of at least n elements and at least m rows. Fortran sees c as
    its transpose, so it is computed as (bᵀ)ᵀ·aᵀ: transa ``'T'`` on b's rows, transb
    ``'N'`` on a's. Raises ValueError for any other layout (BLAS would otherwise
    compute garbage or print an error and leave c as it was).
    """
    m, k = a.shape
    n = b.shape[0]
    if a.itemsize != 4 or b.itemsize != 4 or c.itemsize != 4:
        raise ValueError("sgemm_abt: a, b and c must be float32")
    if b.shape[1] != k or c.shape[0] < m or c.shape[1] < n:
        raise ValueError("sgemm_abt: shapes must be a (m, k), b (n, k), c at least (m, n)")
    if m == 0 or n == 0:
        return
    if k == 0:  # BLAS wants lda >= 1; the product is zero (and a row of no elements has any stride)
        c[:m, :n] = 0.0
        return
    if a.strides[1] != 4 or b.strides[1] != 4 or c.strides[1] != 4:
        raise ValueError("sgemm_abt: rows of a, b and c must be contiguous")
    if a.strides[0] < 4 * k or b.strides[0] < 4 * k or c.strides[0] < 4 * n:
        raise ValueError("sgemm_abt: row strides must be positive and cover the rows")
    ipar = np.empty(6, dtype=np.int32)
    ipar[0], ipar[1], ipar[2] = n, m, k
    ipar[3], ipar[4], ipar[5] = b.strides[0] // 4, a.strides[0] // 4, c.strides[0] // 4
    fpar = np.zeros(2, dtype=np.float32)
    fpar[0] = 1.0  # alpha = 1, beta = 0
    cpar = np.empty(2, dtype=np.int8)
    cpar[0] = 84  # 'T'
    cpar[1] = 78  # 'N'
    sgemm(
        cpar[0:].ctypes,
        cpar[1:].ctypes,
        ipar[0:].ctypes,
        ipar[1:].ctypes,
        ipar[2:].ctypes,
        fpar[0:].ctypes,
        b.ctypes,
        ipar[3:].ctypes,
        a.ctypes,
        ipar[4:].ctypes,
        fpar[1:].ctypes,
        c.ctypes,
        ipar[5:].ctypes,
    )
