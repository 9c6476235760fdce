"""Cache-line aligned arrays for the factor matrices the kernels read row by row.

The normal equations read each partner's factor row whole: at rank 64 that is
256 bytes, four 64-byte cache lines, and the Gram kernel and the half-step
prefetch exactly those four. NumPy's allocator aligns large arrays to 16 bytes
only, so every row then straddles five lines: one more line per rating to
fetch from memory, and one that the prefetch does not ask for. Aligning the
factor matrices to the cache line made the normal-equation phase 8-12% faster on
the users' side and 12-21% on the films' side at ML-25M shape (interleaved runs,
``benchmarks/alignment.py``; ``docs/performance.md``, fourth pass).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CACHE_LINE = 64
"""Bytes of a cache line on x86-64 and most ARM cores."""


def aligned_empty(shape: tuple[int, ...], dtype: npt.DTypeLike = np.float32, align: int = CACHE_LINE) -> np.ndarray:
    """Uninitialised C-contiguous array whose first element (if any) sits on an ``align``-byte boundary.

    Parameters
    ----------
    shape : tuple of int
    dtype : data type, default float32
    align : int, default ``CACHE_LINE``
        Bytes; a power of two.

    Returns
    -------
    ndarray of ``shape`` and ``dtype`` (a view of a slightly larger byte buffer, which it keeps alive)
    """
    dt = np.dtype(dtype)
    n_bytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    raw = np.empty(n_bytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start : start + n_bytes].view(dt).reshape(shape)


def aligned_copy(a: np.ndarray, dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """``a`` (cast to ``dtype`` if given) copied into an ``aligned_empty`` array."""
    out = aligned_empty(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out


def aligned_zeros(shape: tuple[int, ...], dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """``aligned_empty`` filled with zeros."""
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out
