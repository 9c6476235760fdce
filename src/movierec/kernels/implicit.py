"""The implicit-feedback ALS half-step (Hu, Koren, Volinsky 2008): exact, or by conjugate gradient.

Pure computation on dense positions, parallel over rows, deterministic. For row u with observed
items j (preference p_uj in {0, 1}, confidence c_uj >= 1; every other item p = 0, c = 1) the factors
solve (Hu et al. 2008, eq. 4)

    (YᵀY + Yᵀ(C_u − I)Y + λ·n_u·I) x_u = YᵀC_u p_u

with λ multiplied by the row's count n_u, as Spark's ``implicitPrefs`` does with ``regParam``, so λ
transfers between engines. YᵀY is shared by every row (``gram``), so a row costs n_u·k² to build its
system and k³/3 to factor it exactly; ``cg_steps`` > 0 instead runs that many conjugate-gradient
steps from the row's current factors, each costing k² + 4·n_u·k without forming the system
(Takács, Pilászy, Tikk, RecSys 2011, doi:10.1145/2043932.2043987; the default solver of the
``implicit`` library).

References
----------
Hu, Koren, Volinsky. "Collaborative Filtering for Implicit Feedback Datasets".
ICDM 2008. doi:10.1109/ICDM.2008.22
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from movierec.kernels.als import cholesky_solve


@njit(cache=True, fastmath=True)
def _row_sums32(indices, confidence, preference, Y, start, end, A32, b32):  # pragma: no cover - numba
    """A32 = Σ_j (c_j − 1) y_j y_jᵀ (lower triangle only) and b32 = Σ_j c_j p_j y_j over a row's entries, float32.

    Eight rank-1 updates per pass over A32 (an eighth of its loads and stores), in float32 as Y is
    stored (twice float64's SIMD lanes).
    """
    k = Y.shape[1]
    one = np.float32(1.0)
    for a in range(k):
        for c2 in range(a + 1):
            A32[a, c2] = 0.0
        b32[a] = 0.0
    p = start
    while p + 8 <= end:
        y0, y1, y2, y3 = Y[indices[p]], Y[indices[p + 1]], Y[indices[p + 2]], Y[indices[p + 3]]
        y4, y5, y6, y7 = Y[indices[p + 4]], Y[indices[p + 5]], Y[indices[p + 6]], Y[indices[p + 7]]
        c0, c1, c2_, c3 = confidence[p], confidence[p + 1], confidence[p + 2], confidence[p + 3]
        c4, c5, c6, c7 = confidence[p + 4], confidence[p + 5], confidence[p + 6], confidence[p + 7]
        t0, t1, t2, t3 = c0 * preference[p], c1 * preference[p + 1], c2_ * preference[p + 2], c3 * preference[p + 3]
        t4, t5, t6, t7 = c4 * preference[p + 4], c5 * preference[p + 5], c6 * preference[p + 6], c7 * preference[p + 7]
        m0, m1, m2, m3, m4, m5, m6, m7 = c0 - one, c1 - one, c2_ - one, c3 - one, c4 - one, c5 - one, c6 - one, c7 - one
        for a in range(k):
            b32[a] += (t0 * y0[a] + t1 * y1[a] + t2 * y2[a] + t3 * y3[a]) + (
                t4 * y4[a] + t5 * y5[a] + t6 * y6[a] + t7 * y7[a]
            )
            w0, w1, w2, w3 = m0 * y0[a], m1 * y1[a], m2 * y2[a], m3 * y3[a]
            w4, w5, w6, w7 = m4 * y4[a], m5 * y5[a], m6 * y6[a], m7 * y7[a]
            Aa = A32[a]
            for c2 in range(a + 1):  # lower triangle, as cholesky_solve reads
                Aa[c2] += (w0 * y0[c2] + w1 * y1[c2] + w2 * y2[c2] + w3 * y3[c2]) + (
                    w4 * y4[c2] + w5 * y5[c2] + w6 * y6[c2] + w7 * y7[c2]
                )
        p += 8
    while p < end:  # the ragged tail, one update at a time
        yj = Y[indices[p]]
        c = confidence[p]
        cp = c * preference[p]
        cm1 = c - one
        for a in range(k):
            b32[a] += cp * yj[a]
            w = cm1 * yj[a]
            Aa = A32[a]
            for c2 in range(a + 1):
                Aa[c2] += w * yj[c2]
        p += 1


@njit(cache=True, fastmath=True)
def _row_sums64(indices, confidence, preference, Y, start, end, A, b):  # pragma: no cover - numba
    """A += Σ_j (c_j − 1) y_j y_jᵀ (lower triangle), b += Σ_j c_j p_j y_j, float64: the retry of ``_exact_row``."""
    k = Y.shape[1]
    for p in range(start, end):
        yj = Y[indices[p]]
        c = np.float64(confidence[p])
        cp = c * preference[p]
        for a in range(k):
            ya = np.float64(yj[a])
            b[a] += cp * ya
            w = (c - 1.0) * ya
            Aa = A[a]
            for c2 in range(a + 1):
                Aa[c2] += w * yj[c2]


@njit(cache=True, fastmath=True)
def _exact_row(indices, confidence, preference, Y, gram, reg_n, start, end, A, b, L, out, A32, b32):  # pragma: no cover
    """x = (YᵀY + Σ_j (c_j − 1) y_j y_jᵀ + reg_n·I)⁻¹ Σ_j c_j p_j y_j into ``out``; False if not positive definite.

    The row's own sums are taken in float32 (``_row_sums32``) and added to the float64 YᵀY + reg_n·I
    that the Cholesky solve reads. On a badly conditioned system float32 rounding can exceed its
    smallest eigenvalue; a row whose factorization fails is summed again in float64 before giving up.
    """
    k = Y.shape[1]
    _row_sums32(indices, confidence, preference, Y, start, end, A32, b32)
    for a in range(k):
        for c2 in range(a + 1):
            A[a, c2] = gram[a, c2] + A32[a, c2]
        A[a, a] += reg_n
        b[a] = b32[a]
    if not cholesky_solve(A, b, L, k):
        for a in range(k):
            for c2 in range(a + 1):
                A[a, c2] = gram[a, c2]
            A[a, a] += reg_n
            b[a] = 0.0
        _row_sums64(indices, confidence, preference, Y, start, end, A, b)
        if not cholesky_solve(A, b, L, k):
            return False
    for a in range(k):
        out[a] = b[a]
    return True


@njit(cache=True, fastmath=True)
def _sparse_part(
    indices, confidence, preference, Y, start, end, v, with_target, sign, v32, acc32, out
):  # pragma: no cover - numba
    """out += sign · Σ_j (t_j − (c_j − 1) y_j·v) y_j over the row's entries, t_j = c_j p_j if ``with_target`` else 0.

    In float32, as Y is stored: twice the SIMD lanes of float64 in the two loops that carry
    4·n·k of a CG step's k² + 4·n·k operations (the rows' own terms; YᵀY stays float64). Run to
    convergence on a badly conditioned system this floors near 1e-4 relative error (float64: 1e-8);
    the fit takes 3 warm-started steps, far above that floor.
    """
    k = Y.shape[1]
    one = np.float32(1.0)
    for a in range(k):
        v32[a] = v[a]
        acc32[a] = 0.0
    for q in range(start, end):
        yj = Y[indices[q]]
        dot = np.float32(0.0)
        for a in range(k):
            dot += yj[a] * v32[a]
        c = confidence[q]
        w = -(c - one) * dot
        if with_target:
            w += c * preference[q]
        for a in range(k):
            acc32[a] += w * yj[a]
    for a in range(k):
        out[a] += sign * acc32[a]


@njit(cache=True, fastmath=True)
def _cg_row(
    indices, confidence, preference, Y, gram, reg_n, start, end, steps, x, r, p, Ap, v32, acc32
):  # pragma: no cover - numba
    """``steps`` conjugate-gradient steps on the row's system from x (updated in place), float64 vectors."""
    k = Y.shape[1]
    for a in range(k):  # r = b − A x = Σ_j (c_j p_j − (c_j − 1) y_j·x) y_j − (YᵀY + reg_n I) x
        s = reg_n * x[a]
        ga = gram[a]
        for c2 in range(k):
            s += ga[c2] * x[c2]
        r[a] = -s
    _sparse_part(indices, confidence, preference, Y, start, end, x, True, 1.0, v32, acc32, r)
    rs = 0.0
    for a in range(k):
        p[a] = r[a]
        rs += r[a] * r[a]
    for _ in range(steps):
        if rs <= 1e-20:
            break
        for a in range(k):  # Ap = (YᵀY + reg_n I) p + Σ_j (c_j − 1)(y_j·p) y_j
            s = reg_n * p[a]
            ga = gram[a]
            for c2 in range(k):
                s += ga[c2] * p[c2]
            Ap[a] = s
        _sparse_part(indices, confidence, preference, Y, start, end, p, False, -1.0, v32, acc32, Ap)
        pAp = 0.0
        for a in range(k):
            pAp += p[a] * Ap[a]
        if not pAp > 0.0:
            break
        alpha = rs / pAp
        rs_new = 0.0
        for a in range(k):
            x[a] += alpha * p[a]
            r[a] -= alpha * Ap[a]
            rs_new += r[a] * r[a]
        beta = rs_new / rs
        rs = rs_new
        for a in range(k):
            p[a] = r[a] + beta * p[a]


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
    cg_steps: int = 0,
) -> None:  # pragma: no cover - numba
    """One weighted-ALS half-step over every row (system in the module docstring).

    Parameters
    ----------
    indptr, indices : CSR structure of the observed entries (int64, int32)
    confidence : ndarray of shape (nnz,), float32, each >= 1
    preference : ndarray of shape (nnz,), float32, each 0 or 1
    other_factors : ndarray of shape (n_other, n_factors), float32 (fixed side Y)
    gram : ndarray of shape (n_factors, n_factors), float64, YᵀY
    reg : float
        λ, multiplied by each row's count n_u.
    factors : ndarray of shape (n_rows, n_factors), float32; written (and read as the CG start)
    cg_steps : int, default 0
        0 solves every row exactly (Cholesky; NaN where the system is not positive definite);
        a positive count runs that many CG steps from the row's current factors.
    """
    n_rows = factors.shape[0]
    k = other_factors.shape[1]
    n_chunks = min(n_rows, 256)
    for chunk in prange(n_chunks):
        A = np.empty((k, k))
        b = np.empty(k)
        L = np.empty((k, k))
        x = np.empty(k)
        r = np.empty(k)
        p = np.empty(k)
        Ap = np.empty(k)
        v32 = np.empty(k, dtype=np.float32)
        acc32 = np.empty(k, dtype=np.float32)
        A32 = np.empty((k, k), dtype=np.float32)
        b32 = np.empty(k, dtype=np.float32)
        for row in range(chunk, n_rows, n_chunks):
            start = indptr[row]
            end = indptr[row + 1]
            n = end - start
            if n == 0:
                for a in range(k):
                    factors[row, a] = 0.0
                continue
            if cg_steps > 0:
                for a in range(k):
                    x[a] = factors[row, a]
                _cg_row(
                    indices, confidence, preference, other_factors, gram, reg * n, start, end, cg_steps, x, r, p, Ap,
                    v32, acc32,
                )  # fmt: skip
            elif not _exact_row(
                indices, confidence, preference, other_factors, gram, reg * n, start, end, A, b, L, x, A32, b32
            ):
                for a in range(k):
                    x[a] = np.nan
            for a in range(k):
                factors[row, a] = x[a]
