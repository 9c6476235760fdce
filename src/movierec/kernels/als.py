"""The explicit ALS half-step: every row's bias and factors by an exact or a conjugate-gradient ridge solve.

Pure computation on dense positions, parallel over rows (Numba); no I/O, no pyspark. Rows are
independent, so results do not depend on the number of threads. Kernels compile on first use and
are cached on disk (``cache=True``).

The algorithmic routes, all in this module and chosen per row by ``solve_half_step``:

* exact, through the normal equations: (ZᵀZ + D) w = Zᵀt for Z = [1, y_j] (size k+1), solved by
  ``cholesky_solve`` in float64 (faster than LAPACK ``dpotrf`` at this size, and it reports a
  non-positive pivot instead of raising); symmetric systems are stored as their lower triangle;
* exact, through the n × n dual (``solve_dual``, Woodbury) for rows with fewer ratings than unknowns;
* a few warm-started conjugate-gradient steps (``cg_solve``) on rows of ``CG_MIN_ROW`` to ``CG_MAX_ROW``
  ratings when fitting with ``solver="cg"``.

How long rows' ZᵀZ is summed is a question of the machine, not of the algorithm: register-tiled
Gram kernels, BLAS pieces and prefetching live in ``movierec.kernels._fast`` (removable; without it
``movierec.kernels.portable`` sums one rating at a time). BLAS must run single-threaded inside these
kernels (Numba already uses every core); ``movierec.kernels.threads`` arranges that.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from movierec.kernels.portable import normal_scalar

try:  # the machine-specific route; removable (see the module docstring)
    from movierec.kernels._fast import (
        PIECE,
        PREFETCH_AHEAD,
        blas_params,
        normal_equations,
        prefetch_lines,
        prefetch_row,
        prefetch_rows,
    )  # fmt: skip
except ImportError:  # pragma: no cover - only without kernels/_fast
    from movierec.kernels.portable import (
        PIECE,
        PREFETCH_AHEAD,
        blas_params,
        normal_equations,
        prefetch_lines,
        prefetch_row,
        prefetch_rows,
    )  # fmt: skip


BLAS_MIN_ROW = 16
"""Rows with at least this many ratings (and rank >= BLAS_MIN_RANK) take ``normal_equations`` (Gram tiles or BLAS)."""
BLAS_MIN_RANK = 8
"""Below this rank the scalar float64 path (``normal_scalar``) is faster than the fast route."""


@njit(cache=True, fastmath=True)  # no Numba-level inline: it kept LLVM from vectorizing (25 vs 13 µs)
def cholesky_solve(A: np.ndarray, b: np.ndarray, L: np.ndarray, d: int) -> bool:  # pragma: no cover - numba
    """Solve A w = b in place of ``b`` for symmetric positive definite A (lower triangle read).

    Returns False when A is not positive definite (the caller marks the row non-finite).
    """
    # Row views (``L[i]``) let LLVM vectorize the dot products: 2x faster than L[i, p] at d = 65.
    # Four rows share each pass over L[j] (four independent sums): 8.7 -> 6.0 µs with the solve at d = 65.
    for j in range(d):
        Lj = L[j]
        s = A[j, j]
        for p in range(j):
            s -= Lj[p] * Lj[p]
        if s <= 0.0:
            return False
        ljj = np.sqrt(s)
        Lj[j] = ljj
        inv = 1.0 / ljj
        i = j + 1
        while i + 3 < d:
            L0, L1, L2, L3 = L[i], L[i + 1], L[i + 2], L[i + 3]
            s0, s1, s2, s3 = A[i, j], A[i + 1, j], A[i + 2, j], A[i + 3, j]
            for p in range(j):
                x = Lj[p]
                s0 -= L0[p] * x
                s1 -= L1[p] * x
                s2 -= L2[p] * x
                s3 -= L3[p] * x
            L0[j], L1[j], L2[j], L3[j] = s0 * inv, s1 * inv, s2 * inv, s3 * inv
            i += 4
        rest = i
        for i in range(rest, d):
            Li = L[i]
            s = A[i, j]
            for p in range(j):
                s -= Li[p] * Lj[p]
            Li[j] = s * inv
    triangular_solve(L, b, d)
    return True


@njit(cache=True, fastmath=True)  # no Numba-level inline: it kept LLVM from vectorizing (25 vs 13 µs)
def triangular_solve(L: np.ndarray, b: np.ndarray, d: int) -> None:  # pragma: no cover - numba
    """Overwrite ``b`` with (L Lᵀ)⁻¹ b for lower-triangular L (row-major reads)."""
    for i in range(d):  # forward: L y = b
        Li = L[i]
        s = b[i]
        for p in range(i):
            s -= Li[p] * b[p]
        b[i] = s / Li[i]
    for i in range(d - 1, -1, -1):  # backward: Lᵀ w = y, as updates by L's rows (contiguous): 2.0 -> 1.0 µs
        Li = L[i]
        w = b[i] / Li[i]
        b[i] = w
        for p in range(i):
            b[p] -= w * Li[p]


@njit(cache=True, fastmath=True)
def solve_dual(
    indices, values, other_factors, other_bias, start, end, base, reg_n, bias_reg_n, Zd, M, Lm, y, out
):  # pragma: no cover - numba
    """Exact solve of a row with fewer ratings than unknowns, through the n×n dual system.

    (D + ZᵀZ)⁻¹ Zᵀt = D⁻¹ Zᵀ (I + Z D⁻¹ Zᵀ)⁻¹ t  (Woodbury), D = diag(λ_b n, λ n, ...).
    Costs n²·d/2 + n³/6 instead of n·d²/2 + d³/6. Writes [b, x] to ``out``;
    returns False when the n×n system is not positive definite.
    """
    k = other_factors.shape[1]
    d = k + 1
    n = end - start
    inv_b = 1.0 / bias_reg_n
    inv_f = 1.0 / reg_n
    for q in range(n):
        j = indices[start + q]
        y[q] = values[start + q] - base - other_bias[j]
        Zd[q, 0] = 1.0
        for a in range(k):
            Zd[q, a + 1] = other_factors[j, a]
    for q in range(n):
        for r in range(q, n):
            s = 0.0
            for a in range(1, d):
                s += Zd[q, a] * Zd[r, a]
            M[r, q] = s * inv_f + inv_b  # Z D⁻¹ Zᵀ (lower triangle); the bias column is all ones
        M[q, q] += 1.0
    if not cholesky_solve(M, y, Lm, n):
        return False
    s0 = 0.0
    for q in range(n):
        s0 += y[q]
    out[0] = s0 * inv_b
    for a in range(1, d):
        s = 0.0
        for q in range(n):
            s += Zd[q, a] * y[q]
        out[a] = s * inv_f
    return True


DUAL_COST = 3
"""Relative cost of a dual-solve flop against a primal one, in the choice between them (``solve_half_step``).
Measured at rank 64 against the fused Gram tiles; other ranks use the same weight (not measured there)."""
N_CHUNKS = 256
"""Row chunks per half-step: interleaved rows, so rows of very different lengths spread evenly over
the threads, and each chunk allocates its work buffers once. 1024 chunks cost ml-100k's fit 0.22 s
against 0.17 s with 16-256; 128 cost 3% at ML-25M shape with solver="cg" (16.5 vs 16.0 s). A
constant: numba.get_num_threads() in the kernel would keep it off the disk cache."""
CG_MIN_ROW = 64
"""With ``cg_steps > 0``, rows with at least this many ratings (and at most ``CG_MAX_ROW``) are solved by
conjugate gradient; shorter rows keep the exact dual or Cholesky solve, which costs less there."""
CG_MAX_ROW = 4096
"""Longest row solved by conjugate gradient: its gathered block (``CG_MAX_ROW`` × (k+1) float32, 1 MB at
rank 64) is reused by every CG step. Longer rows (the most popular films) keep the exact BLAS path."""


@njit(cache=True, fastmath=True)
def cg_solve(
    indices, values, other_factors, other_bias, start, end, base, reg_n, bias_reg_n, steps, Zc, tv, u, w, r, z, p, Ap, M
):  # pragma: no cover - numba
    """A few steps of Jacobi-preconditioned conjugate gradient on one row's ridge system, from ``w``.

    Solves (ZᵀZ + D) w = Zᵀt, D = diag(λ_b n, λ n, ..., λ n), without forming ZᵀZ: each step
    costs two passes over the gathered block Z (Z p, then Zᵀ(Z p)), 4·n·(k+1) flops, instead of
    n·(k+1)² for the normal equations and (k+1)³/3 for the Cholesky factorisation. ``w`` holds
    the row's current [b, x] (the previous sweep's solution: a warm start) and is overwritten.
    Buffers: ``Zc`` (≥ n × (k+1)), ``tv`` and ``u`` (≥ n), the others (k+1); float32.
    """
    k = other_factors.shape[1]
    d = k + 1
    n = end - start
    addr = other_factors.ctypes.data
    stride = other_factors.strides[0]
    lines = prefetch_lines(stride)
    for q in range(n):  # gather Z = [1, y_j] and the target t
        ahead = start + q + PREFETCH_AHEAD
        if ahead < end:
            prefetch_row(addr, stride, lines, indices[ahead])
        j = indices[start + q]
        Zq = Zc[q]
        Zq[0] = 1.0
        for a in range(k):
            Zq[a + 1] = other_factors[j, a]
        tv[q] = values[start + q] - base - other_bias[j]
    for a in range(d):  # Jacobi preconditioner: diag(ZᵀZ + D)
        M[a] = 0.0
        r[a] = 0.0
    for q in range(n):  # and r = Zᵀ(t − Z w) − D w
        Zq = Zc[q]
        s = 0.0
        for a in range(d):
            s += Zq[a] * w[a]
        uq = tv[q] - s
        for a in range(d):
            M[a] += Zq[a] * Zq[a]
            r[a] += uq * Zq[a]
    M[0] += bias_reg_n
    r[0] -= bias_reg_n * w[0]
    for a in range(1, d):
        M[a] += reg_n
        r[a] -= reg_n * w[a]
    rz = 0.0
    for a in range(d):
        z[a] = r[a] / M[a]
        p[a] = z[a]
        rz += r[a] * z[a]
    for _ in range(steps):
        if rz <= 1e-30:  # converged (or a row whose residual is exactly 0)
            break
        for q in range(n):
            Zq = Zc[q]
            s = 0.0
            for a in range(d):
                s += Zq[a] * p[a]
            u[q] = s
        for a in range(d):
            Ap[a] = 0.0
        for q in range(n):
            Zq = Zc[q]
            uq = u[q]
            for a in range(d):
                Ap[a] += uq * Zq[a]
        Ap[0] += bias_reg_n * p[0]
        for a in range(1, d):
            Ap[a] += reg_n * p[a]
        pAp = 0.0
        for a in range(d):
            pAp += p[a] * Ap[a]
        if not pAp > 0.0:  # breakdown (possible only from a non-finite start): keep w as it is
            break
        alpha = rz / pAp
        rz_new = 0.0
        for a in range(d):
            w[a] += alpha * p[a]
            r[a] -= alpha * Ap[a]
            z[a] = r[a] / M[a]
            rz_new += r[a] * z[a]
        beta = rz_new / rz
        rz = rz_new
        for a in range(d):
            p[a] = z[a] + beta * p[a]


@njit(cache=True, parallel=True, fastmath=True)
def solve_half_step(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    other_factors: np.ndarray,
    other_bias: np.ndarray,
    offset: np.ndarray,
    global_mean: float,
    reg: float,
    bias_reg: float,
    factors: np.ndarray,
    bias: np.ndarray,
    cg_steps: int = 0,
) -> None:  # pragma: no cover - numba
    """One ALS half-step: ridge solve of every row's bias and factors (exact, or by conjugate gradient).

    For row r with ratings (j, v) in the CSR slice, solves

        min_{b, x}  Σ_j (v − μ − offset_r − b_other[j] − b − x·y_j)²
                    + bias_reg · n_r · b² + reg · n_r · ‖x‖²

    with z_j = [1, y_j] as the design row (normal equations of size k+1,
    Cholesky). Rows without ratings get zeros; a row solved exactly whose system
    is not positive definite (possible only with reg or bias_reg of 0) gets NaN
    (CG rows keep their last iterate).

    Parameters
    ----------
    indptr, indices, values : CSR arrays of the rows (int64, int32, float32)
    other_factors : ndarray of shape (n_other, n_factors), float32 (fixed side)
    other_bias : ndarray of shape (n_other,), float32 (fixed side)
    offset : ndarray of shape (n_rows,), float32
        Extra per-row term subtracted from the target (zeros for the static model).
    global_mean : float
    reg, bias_reg : float
        λ and λ_b, multiplied by the row's rating count n_r (ALS-WR).
    factors : ndarray of shape (n_rows, n_factors), float32, read (CG warm start) and written
    bias : ndarray of shape (n_rows,), float32, read (CG warm start) and written
    cg_steps : int, default 0
        0 solves every row exactly. A positive count solves rows of ``CG_MIN_ROW`` to ``CG_MAX_ROW``
        ratings (whatever the rank) by that many Jacobi-preconditioned conjugate-gradient steps
        started from the row's current values, which must be finite (``ALS._half`` sees to it);
        ``_cg_solve``, after Takács, Pilászy, Tikk, "Applications of the conjugate gradient method
        for implicit feedback collaborative filtering", RecSys 2011, doi:10.1145/2043932.2043987,
        here on the explicit objective. Inexact per sweep; over the sweeps of a fit it reaches the
        same test RMSE (``docs/performance.md``).
    """
    n_rows = factors.shape[0]
    k = other_factors.shape[1]
    d = k + 1
    use_blas = k >= BLAS_MIN_RANK
    dual_ok = reg > 0.0 and bias_reg > 0.0  # the dual needs D invertible
    n_chunks = min(n_rows, N_CHUNKS)
    for c in prange(n_chunks):
        # Per-chunk work buffers (no allocation per row on the hot path).
        Z = np.empty((PIECE, d + 1), dtype=np.float32)
        A = np.empty((d, d))
        b = np.empty(d)
        L = np.empty((d, d))
        G = np.empty((d + 1, d + 1), dtype=np.float32)
        par = blas_params()
        Zd = np.empty((d, d))
        M = np.empty((d, d))
        Lm = np.empty((d, d))
        y = np.empty(d)
        cg_rows = CG_MAX_ROW if cg_steps > 0 else 0
        Zc = np.empty((cg_rows, d), dtype=np.float32)
        tv = np.empty(cg_rows, dtype=np.float32)
        u = np.empty(cg_rows, dtype=np.float32)
        w = np.empty(d, dtype=np.float32)
        rv = np.empty(d, dtype=np.float32)
        zv = np.empty(d, dtype=np.float32)
        pv = np.empty(d, dtype=np.float32)
        Ap = np.empty(d, dtype=np.float32)
        Mj = np.empty(d, dtype=np.float32)
        if c < n_rows:
            prefetch_rows(indices, indptr[c], min(indptr[c + 1], indptr[c] + PREFETCH_AHEAD), other_factors)
        for r in range(c, n_rows, n_chunks):
            start = indptr[r]
            end = indptr[r + 1]
            n = end - start
            nxt = r + n_chunks  # this chunk's next row: its first partners load while this row is solved
            if nxt < n_rows:
                prefetch_rows(indices, indptr[nxt], min(indptr[nxt + 1], indptr[nxt] + PREFETCH_AHEAD), other_factors)
            if n == 0:
                bias[r] = 0.0
                for a in range(k):
                    factors[r, a] = 0.0
                continue
            base = global_mean + offset[r]
            if cg_steps > 0 and CG_MIN_ROW <= n <= CG_MAX_ROW:
                w[0] = bias[r]
                for a in range(k):
                    w[a + 1] = factors[r, a]
                cg_solve(indices, values, other_factors, other_bias, start, end, base, reg * n, bias_reg * n, cg_steps,
                          Zc, tv, u, w, rv, zv, pv, Ap, Mj)  # fmt: skip
                bias[r] = w[0]
                for a in range(k):
                    factors[r, a] = w[a + 1]
                continue
            # The dual's flops (n²·(d + n/3)) run about 3x slower than the primal's (fused Gram tiles,
            # four-row Cholesky): at rank 64 rows under ~31 ratings take it (users' half-step at ML-25M
            # shape 1.05 s with the plain flop count's ~65, 0.81-0.87 s with 32, 0.87 s with none).
            if dual_ok and DUAL_COST * n * n * (d + n // 3) < n * d * d + d * d * d // 3:
                if solve_dual(indices, values, other_factors, other_bias, start, end, base, reg * n, bias_reg * n,
                               Zd, M, Lm, y, b):  # fmt: skip
                    bias[r] = b[0]
                    for a in range(k):
                        factors[r, a] = b[a + 1]
                else:
                    bias[r] = np.nan
                    for a in range(k):
                        factors[r, a] = np.nan
                continue
            if use_blas and n >= BLAS_MIN_ROW:
                nxt_s, nxt_e = (indptr[nxt], indptr[nxt + 1]) if nxt < n_rows else (0, 0)
                normal_equations(
                    indices, values, other_factors, other_bias, start, end, base, A, b, Z, G, par, nxt_s, nxt_e
                )
            else:
                A[:] = 0.0
                b[:] = 0.0
                normal_scalar(indices, values, other_factors, other_bias, start, end, base, A, b)
            A[0, 0] += bias_reg * n
            for a in range(1, d):
                A[a, a] += reg * n
            if cholesky_solve(A, b, L, d):
                bias[r] = b[0]
                for a in range(k):
                    factors[r, a] = b[a + 1]
            else:
                bias[r] = np.nan
                for a in range(k):
                    factors[r, a] = np.nan


@njit(cache=True, parallel=True, fastmath=True)
def squared_error(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    row_factors: np.ndarray,
    row_bias: np.ndarray,
    col_factors: np.ndarray,
    col_bias: np.ndarray,
    global_mean: float,
) -> float:  # pragma: no cover - numba
    """Sum of squared residuals of the static model over a CSR rating matrix."""
    n_rows = row_factors.shape[0]
    k = row_factors.shape[1]
    total = 0.0
    for r in prange(n_rows):
        s = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            j = indices[p]
            pred = global_mean + row_bias[r] + col_bias[j]
            for a in range(k):
                pred += row_factors[r, a] * col_factors[j, a]
            e = values[p] - pred
            s += e * e
        total += s
    return total
