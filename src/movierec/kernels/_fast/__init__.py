"""The micro-architectural routes of the kernels, kept apart from the algorithms so they can be removed.

Everything here is about speed on a given CPU, not about what is computed: the LLVM-IR Gram tiles
that keep a row's ZᵀZ in vector registers (``gram``), software prefetch of partner rows, and BLAS
``sgemm`` called by symbol from Numba threads (``blas``), used for long rows' normal equations
(``normal``) and for the tiles of batch scoring (``movierec.ranking.topk``). ``movierec.kernels.als``
imports these names if this package is present and falls back to ``movierec.kernels.portable`` (plain
Numba loops, the same results to float32 rounding) if it is removed. Gains measured: docs/decisions.
"""

from movierec.kernels._fast.blas import blas_params, sgemm_abt
from movierec.kernels._fast.normal import (
    PIECE,
    PREFETCH_AHEAD,
    normal_equations,
    prefetch_lines,
    prefetch_row,
    prefetch_rows,
)

__all__ = [
    "PIECE",
    "PREFETCH_AHEAD",
    "blas_params",
    "normal_equations",
    "prefetch_lines",
    "prefetch_row",
    "prefetch_rows",
    "sgemm_abt",
]
