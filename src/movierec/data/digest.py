"""The row part of ``Dataset.fingerprint``: one compiled pass instead of NumPy temporaries.

Kept apart from ``dataset.py`` so that reading and ingesting data does not import Numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)


@njit(cache=True)
def _mix(x):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(cache=True)
def row_digest(user_idx, item_idx, rating_bits, timestamp_bits):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    """Wrapping sum and xor of splitmix64(splitmix64(splitmix64(u << 32 | i) ^ r) ^ t) over the rows.

    ``rating_bits``: the float32 ratings viewed as uint32; ``timestamp_bits``: int64 viewed as uint64.
    Order-independent (a multiset hash); the same values as the NumPy expression it replaced.
    """
    total = np.uint64(0)
    xor = np.uint64(0)
    for k in range(user_idx.size):
        x = _mix((np.uint64(user_idx[k]) << _S32) | np.uint64(item_idx[k]))
        x = _mix(x ^ np.uint64(rating_bits[k]))
        x = _mix(x ^ timestamp_bits[k])
        total += x
        xor ^= x
    return total, xor
