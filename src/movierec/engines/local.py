"""Local engine: Numba kernels for the ALS half-steps, parallel over rows.

Every kernel here is pure computation on dense positions; no I/O and no
pyspark. Rows are independent, so results do not depend on the number of
threads. Kernels are compiled on first use and cached on disk (``cache=True``).

Where the time goes (see ``docs/performance.md``): building the normal
equations costs about 2·n_r·k² flops per row and solving them about k³/3.
Rows with at least ``BLAS_MIN_ROW`` ratings build ZᵀZ and Zᵀt for
``Z = [1, Y]`` with the Gram tile kernel of ``movierec.engines.gram``, which
reads the partners' factor rows in place and keeps each tile of the sum in
vector registers (when k is a multiple of ``gram.LANES``: 32 with AVX-512,
16 otherwise); other ranks gather the rows into a float32 block (``PIECE``
rows at a time, so it stays in L2) and call BLAS ``sgemm``. The system is
solved in float64 by a Cholesky factorisation written for the (k+1)² system
(faster than LAPACK ``dpotrf`` at this size, and it reports a non-positive
pivot instead of raising); symmetric systems are stored as their lower
triangle. Short rows and tiny ranks keep the scalar float64 path, where a
BLAS call would cost more than it saves. BLAS must run single-threaded inside
these kernels (Numba already uses every core); ``movierec.engines.threads``
arranges that.
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS whose sgemm we call)
from numba import njit, prange, types
from numba.extending import get_cython_function_address, intrinsic

from movierec.engines.gram import COLS, LANES, OUT_SIZE, VW, emit_prefetch, gram_diag, gram_tile

# SciPy's Fortran sgemm, called by symbol name: the address is registered anew in
# every process, so the compiled kernels stay cacheable on disk (a ctypes
# pointer would be baked into the cache and forbid it).
_llvm.add_symbol("movierec_sgemm", get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
_sgemm = types.ExternalFunction("movierec_sgemm", types.void(*([types.voidptr] * 13)))

PREFETCH_AHEAD = 32
"""Partner rows requested from memory this many ratings before they are gathered (``_prefetch``).
At ML-25M shape the gathers were half of the normal-equation phase, waiting on memory (the 162k
user factors, 41 MB, do not fit in L3); prefetching 32 ahead cut the phase 1.86 → 1.36 s per sweep."""
PREFETCH_LINES = 4
"""Cache lines requested per partner row (64 floats = 256 bytes at rank 64)."""


@intrinsic
def _prefetch(typingctx, addr):  # type: ignore[no-untyped-def]
    """LLVM ``prefetch`` (read, keep in all cache levels) of the byte address ``addr``."""
    if not isinstance(addr, types.Integer):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        emit_prefetch(builder, args[0], 3)
        return context.get_dummy_value()

    return types.void(addr), codegen


@njit(cache=True)
def _prefetch_lines(stride):  # pragma: no cover - numba
    """Cache lines to request per partner row of ``stride`` bytes (a run-time count: see ``_normal_blas``)."""
    return min(PREFETCH_LINES, (stride + 63) // 64)


@njit(cache=True)
def _prefetch_row(addr, stride, lines, j):  # pragma: no cover - numba
    """Ask for row ``j`` of the factor array at byte address ``addr`` (no effect on results)."""
    a0 = addr + j * stride
    for line in range(lines):
        _prefetch(a0 + 64 * line)


@njit(cache=True)
def _prefetch_rows(indices, start, end, other_factors):  # pragma: no cover - numba
    """Ask for the factor rows of partners ``indices[start:end]`` (no effect on results)."""
    addr = other_factors.ctypes.data
    stride = other_factors.strides[0]
    lines = _prefetch_lines(stride)
    for p in range(start, end):
        _prefetch_row(addr, stride, lines, indices[p])


BLAS_MIN_ROW = 16
"""Rows with at least this many ratings (and rank >= BLAS_MIN_RANK) take ``_normal_gram`` (Gram tiles or BLAS)."""
BLAS_MIN_RANK = 8
"""Below this rank the scalar float64 path is faster than any BLAS call."""
FUSED_PIECE = 448
"""Ratings per piece in ``_normal_fused`` (its partner rows, 112 KB at rank 64, stay in L2 across the
tile passes). 2-5% faster than 224 at ML-25M shape; there is no copy to keep small."""
PIECE = 224
"""Ratings gathered per BLAS call (the block, 59 KB at rank 64, stays in L2). At rank 64, sgemm
on 66 × 66 × 224 took 0.38 s of CPU for the item side of a 3.8M-rating set and 0.49-0.52 s at
240-256 (a cliff between 224 and 240, likely OpenBLAS leaving its small-matrix kernel); see
``docs/performance.md``."""


@njit(cache=True, fastmath=True)  # no Numba-level inline: it kept LLVM from vectorizing (25 vs 13 µs)
def _cholesky_solve(A: np.ndarray, b: np.ndarray, L: np.ndarray, d: int) -> bool:  # pragma: no cover - numba
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
        for i in range(i, d):
            Li = L[i]
            s = A[i, j]
            for p in range(j):
                s -= Li[p] * Lj[p]
            Li[j] = s * inv
    _triangular_solve(L, b, d)
    return True


@njit(cache=True, fastmath=True)  # no Numba-level inline: it kept LLVM from vectorizing (25 vs 13 µs)
def _triangular_solve(L: np.ndarray, b: np.ndarray, d: int) -> None:  # pragma: no cover - numba
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
def _normal_scalar(indices, values, other_factors, other_bias, start, end, base, A, b):  # pragma: no cover - numba
    """Lower triangle of ZᵀZ and Zᵀt in float64, one rating at a time (short rows)."""
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
def _normal_blas(indices, values, other_factors, other_bias, start, end, base, A, b, Z, t, G, par):  # pragma: no cover - numba
    """ZᵀZ and Zᵀt by BLAS ``sgemm`` per PIECE ratings, added into A (lower) and b in float64.

    Each piece is gathered as float32 rows ``[1, y_j, t_j]`` into ``Z`` (shape
    PIECE × (k+2)), so the (k+2)² product ``G`` (accumulated over pieces,
    beta = 1) holds ZᵀZ in its first k+1 rows and columns and Zᵀt in its last
    row. The product is taken in ``_gram_blocks(k+2)``² column blocks, of which only
    the blocks on and below the diagonal (in this row-major view) are computed:
    10 of 16 at rank 64, 0.26–0.28 s instead of 0.32–0.33 s of CPU for one
    side of a 3.8M-rating set (``docs/performance.md``), though each call is smaller.
    ``par`` holds the Fortran scalars (``_blas_params``); ``t`` is unused (kept for
    the call signature of the benchmarks).
    """
    k = other_factors.shape[1]
    d = k + 1
    e = d + 1
    ipar, fpar, cpar = par
    ipar[3] = e
    ipar[4] = e
    ipar[5] = e
    nb = _gram_blocks(e)
    Zf = Z.ravel()  # views: Fortran sees Z as e×m (lda = e) and G as e×e (ldc = e)
    Gf = G.ravel()
    addr = other_factors.ctypes.data
    stride = other_factors.strides[0]
    # Lines per partner row from the stride at run time: with the constant 4 unrolled, LLVM's code for
    # the gather loop was 20% slower on the films side at ML-25M shape (0.90 vs 0.75 s per half-step).
    lines = _prefetch_lines(stride)
    G[:] = 0.0
    for p0 in range(start, end, PIECE):
        m = min(PIECE, end - p0)
        for q in range(m):
            ahead = p0 + q + PREFETCH_AHEAD  # the row's first PREFETCH_AHEAD were asked for by the caller
            if ahead < end:
                _prefetch_row(addr, stride, lines, indices[ahead])
            j = indices[p0 + q]
            Z[q, 0] = 1.0
            for a in range(k):
                Z[q, a + 1] = other_factors[j, a]
            Z[q, d] = values[p0 + q] - base - other_bias[j]
        ipar[2] = m
        for bi in range(nb):
            r0 = bi * e // nb
            r1 = (bi + 1) * e // nb
            for bj in range(bi, nb):
                c0 = bj * e // nb
                c1 = (bj + 1) * e // nb
                ipar[0] = r1 - r0
                ipar[1] = c1 - c0
                # Fortran C(r0:r1, c0:c1) += Z(r0:r1, :)·Z(c0:c1, :)ᵀ, i.e. G[c, r] here for c >= r blocks.
                _sgemm(cpar[0:].ctypes, cpar[1:].ctypes, ipar[0:].ctypes, ipar[1:].ctypes, ipar[2:].ctypes,
                       fpar[0:].ctypes, Zf[r0:].ctypes, ipar[3:].ctypes, Zf[c0:].ctypes, ipar[4:].ctypes,
                       fpar[1:].ctypes, Gf[c0 * e + r0:].ctypes, ipar[5:].ctypes)  # fmt: skip
    for c in range(d):
        b[c] += G[d, c]
        for a in range(c + 1):
            A[c, a] += G[c, a]


@njit(cache=True, fastmath=True)
def _normal_fused(indices, values, other_factors, other_bias, start, end, base, A, b, T, out, next_start, next_end):  # pragma: no cover - numba
    """A's lower triangle and b set to ZᵀZ and Zᵀt, by ``gram_diag``/``gram_tile`` straight from ``other_factors``.

    Needs k a multiple of ``LANES``, int32 ``indices``, float32 rows and a C-contiguous float64 A.
    Per piece of ``FUSED_PIECE`` ratings the targets go to ``T`` (float32, FUSED_PIECE); for each
    block of LANES rows of Σ y yᵀ the VW × VW diagonal tile and the LANES × COLS tiles to its
    right are summed in registers and stored by the kernel into A's rows (the first piece sets,
    later ones add; lanes past the diagonal land in A's upper triangle, which is scratch); Σ y
    (A's bias column) and Σ t·y (b) come back through ``out`` (float32, ``OUT_SIZE``). Each pass
    prefetches its share of the next piece's partner rows.
    """
    k = other_factors.shape[1]
    yaddr = other_factors.ctypes.data
    stride = other_factors.strides[0]
    shift = 2 if stride >= 256 else (1 if stride >= 128 else 0)  # prefetch 4, 2 or 1 lines per row
    if end <= start:  # no piece to set A and b from
        for a in range(k + 1):
            A[a, : a + 1] = 0.0
        b[:] = 0.0
    taddr = T.ctypes.data
    oaddr = out.ctypes.data
    aaddr = A.ctypes.data
    lda = A.strides[0]
    for p0 in range(start, end, FUSED_PIECE):
        m = min(FUSED_PIECE, end - p0)
        add = 1 if p0 > start else 0  # the first piece sets A's lower triangle and b, later ones add
        tsum = 0.0
        for q in range(m):
            tq = values[p0 + q] - base - other_bias[indices[p0 + q]]
            T[q] = tq
            tsum += tq
        A[0, 0] = A[0, 0] + m if add else m
        b[0] = b[0] + tsum if add else tsum
        iaddr = indices.ctypes.data + 4 * p0
        # The next piece's partner rows (after the last piece: the next row's first), one line per iteration
        # from the first pass on: as many rows per pass as its m iterations allow (at rank 64, m / 4). Spreading
        # them evenly over all passes instead was 2-5% slower on rows whose partners come from memory.
        nxt = p0 + m if p0 + m < end else next_start
        next_rows = min(FUSED_PIECE, end - nxt) if p0 + m < end else min(FUSED_PIECE, next_end - next_start)
        share = m >> shift
        pf = 0
        for r0 in range(0, k, LANES):
            pf_rows = max(0, min(share, next_rows - pf))
            gram_diag(yaddr, stride, iaddr, m, r0, r0, taddr, oaddr, indices.ctypes.data + 4 * (nxt + pf), pf_rows << shift, shift, aaddr, lda, add)  # fmt: skip
            pf += pf_rows
            for i in range(LANES):  # Σ y (A's bias column) and Σ t·y (b) come back through out
                A[1 + r0 + i, 0] = A[1 + r0 + i, 0] + out[i] if add else out[i]
                b[1 + r0 + i] = b[1 + r0 + i] + out[LANES + i] if add else out[LANES + i]
            for c0 in range(r0 + VW, k, COLS):
                pf_rows = max(0, min(share, next_rows - pf))
                gram_tile(yaddr, stride, iaddr, m, r0, c0, 0, oaddr, indices.ctypes.data + 4 * (nxt + pf), pf_rows << shift, shift, aaddr, lda, add)  # fmt: skip
                pf += pf_rows


@njit(cache=True, fastmath=True)
def _normal_gram(indices, values, other_factors, other_bias, start, end, base, A, b, Z, t, G, par, next_start=0, next_end=0):  # pragma: no cover - numba
    """Set A's lower triangle and b to ZᵀZ and Zᵀt of a long row (A's upper triangle may be overwritten).

    ``_normal_fused`` when the rank allows it (k a multiple of ``LANES``, int32 indices, float32
    factor rows), borrowing ``Z`` for its targets and ``G`` for the diagonal tiles' Σ y and Σ t·y;
    else ``_normal_blas``.
    ``next_start:next_end`` is the row solved next (its first partners are prefetched).
    """
    k = other_factors.shape[1]
    # The kernel reads the index list by address, so it must be contiguous int32 (a strided view would not be).
    fused_ok = indices.itemsize == 4 and indices.strides[0] == 4
    fused_ok = fused_ok and other_factors.itemsize == 4 and other_factors.strides[1] == 4
    if k % LANES == 0 and fused_ok and A.itemsize == 8 and A.strides[1] == 8:
        T = Z.ravel()[:FUSED_PIECE]
        out = G.ravel()[:OUT_SIZE]
        _normal_fused(indices, values, other_factors, other_bias, start, end, base, A, b, T, out, next_start, next_end)
    else:
        A[:] = 0.0
        b[:] = 0.0
        _normal_blas(indices, values, other_factors, other_bias, start, end, base, A, b, Z, t, G, par)


@njit(cache=True)
def _gram_blocks(e):  # pragma: no cover - numba
    """Column blocks of the (k+2)² product: about 16 wide (4 at rank 64, 1 below rank 31)."""
    return max(1, min(4, e // 16))


@njit(cache=True)
def _blas_params():  # pragma: no cover - numba
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
    if a.strides[1] != 4 or b.strides[1] != 4 or c.strides[1] != 4:
        raise ValueError("sgemm_abt: rows of a, b and c must be contiguous")
    if a.strides[0] < 4 * k or b.strides[0] < 4 * k or c.strides[0] < 4 * n:
        raise ValueError("sgemm_abt: row strides must be positive and cover the rows")
    if m == 0 or n == 0:
        return
    if k == 0:  # BLAS wants lda >= 1; the product is zero
        c[:m, :n] = 0.0
        return
    ipar = np.empty(6, dtype=np.int32)
    ipar[0], ipar[1], ipar[2] = n, m, k
    ipar[3], ipar[4], ipar[5] = b.strides[0] // 4, a.strides[0] // 4, c.strides[0] // 4
    fpar = np.zeros(2, dtype=np.float32)
    fpar[0] = 1.0  # alpha = 1, beta = 0
    cpar = np.empty(2, dtype=np.int8)
    cpar[0] = 84  # 'T'
    cpar[1] = 78  # 'N'
    _sgemm(cpar[0:].ctypes, cpar[1:].ctypes, ipar[0:].ctypes, ipar[1:].ctypes, ipar[2:].ctypes, fpar[0:].ctypes,
           b.ctypes, ipar[3:].ctypes, a.ctypes, ipar[4:].ctypes, fpar[1:].ctypes, c.ctypes, ipar[5:].ctypes)  # fmt: skip


@njit(cache=True, fastmath=True)
def _solve_dual(indices, values, other_factors, other_bias, start, end, base, reg_n, bias_reg_n, Zd, M, Lm, y, out):  # pragma: no cover - numba
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
    if not _cholesky_solve(M, y, Lm, n):
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
def _cg_solve(indices, values, other_factors, other_bias, start, end, base, reg_n, bias_reg_n, steps, Zc, tv, u, w, r, z, p, Ap, M):  # pragma: no cover - numba  # fmt: skip
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
    lines = _prefetch_lines(stride)
    for q in range(n):  # gather Z = [1, y_j] and the target t
        ahead = start + q + PREFETCH_AHEAD
        if ahead < end:
            _prefetch_row(addr, stride, lines, indices[ahead])
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
        t = np.empty(0, dtype=np.float32)
        A = np.empty((d, d))
        b = np.empty(d)
        L = np.empty((d, d))
        G = np.empty((d + 1, d + 1), dtype=np.float32)
        par = _blas_params()
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
            _prefetch_rows(indices, indptr[c], min(indptr[c + 1], indptr[c] + PREFETCH_AHEAD), other_factors)
        for r in range(c, n_rows, n_chunks):
            start = indptr[r]
            end = indptr[r + 1]
            n = end - start
            nxt = r + n_chunks  # this chunk's next row: its first partners load while this row is solved
            if nxt < n_rows:
                _prefetch_rows(indices, indptr[nxt], min(indptr[nxt + 1], indptr[nxt] + PREFETCH_AHEAD), other_factors)
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
                _cg_solve(indices, values, other_factors, other_bias, start, end, base, reg * n, bias_reg * n, cg_steps,
                          Zc, tv, u, w, rv, zv, pv, Ap, Mj)  # fmt: skip
                bias[r] = w[0]
                for a in range(k):
                    factors[r, a] = w[a + 1]
                continue
            # The dual's flops (n²·(d + n/3)) run about 3x slower than the primal's (fused Gram tiles,
            # four-row Cholesky): at rank 64 rows under ~31 ratings take it (users' half-step at ML-25M
            # shape 1.05 s with the plain flop count's ~65, 0.81-0.87 s with 32, 0.87 s with none).
            if dual_ok and DUAL_COST * n * n * (d + n // 3) < n * d * d + d * d * d // 3:
                if _solve_dual(indices, values, other_factors, other_bias, start, end, base, reg * n, bias_reg * n,
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
                _normal_gram(indices, values, other_factors, other_bias, start, end, base, A, b, Z, t, G, par, nxt_s, nxt_e)
            else:
                A[:] = 0.0
                b[:] = 0.0
                _normal_scalar(indices, values, other_factors, other_bias, start, end, base, A, b)
            A[0, 0] += bias_reg * n
            for a in range(1, d):
                A[a, a] += reg * n
            if _cholesky_solve(A, b, L, d):
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
