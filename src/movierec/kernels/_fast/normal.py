"""Long rows' normal equations at the machine's limit: Gram tiles in registers, BLAS pieces, prefetching.

``normal_equations`` sets a row's ZᵀZ (lower triangle) and Zᵀt for Z = [1, y_j]: with the Gram tile
kernel of ``gram`` when the rank is a multiple of its LANES (32 with AVX-512, 16 otherwise), else by
BLAS ``sgemm`` on gathered pieces. Partner rows are prefetched ahead of their gather. The readable
route (``kernels.als``) computes the same sums one rating at a time; results agree to float32
rounding (``tests/kernels``). Measurements behind each constant: ``docs/decisions``.
"""

from __future__ import annotations

from numba import njit, types
from numba.extending import intrinsic

from movierec.kernels._fast.blas import sgemm as _sgemm
from movierec.kernels._fast.gram import (
    emit_prefetch,
    gram_diag,
    gram_tile,
    tile_cols,
    tile_lanes,
    tile_out_size,
    tile_vw,
)

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
def prefetch_lines(stride):  # pragma: no cover - numba
    """Cache lines to request per partner row of ``stride`` bytes (a run-time count: see ``_normal_blas``)."""
    return min(PREFETCH_LINES, (stride + 63) // 64)


@njit(cache=True)
def prefetch_row(addr, stride, lines, j):  # pragma: no cover - numba
    """Ask for row ``j`` of the factor array at byte address ``addr`` (no effect on results)."""
    a0 = addr + j * stride
    for line in range(lines):
        _prefetch(a0 + 64 * line)


@njit(cache=True)
def prefetch_rows(indices, start, end, other_factors):  # pragma: no cover - numba
    """Ask for the factor rows of partners ``indices[start:end]`` (no effect on results)."""
    addr = other_factors.ctypes.data
    stride = other_factors.strides[0]
    lines = prefetch_lines(stride)
    for p in range(start, end):
        prefetch_row(addr, stride, lines, indices[p])


PIECE = 224
"""Ratings gathered per BLAS call (the block, 59 KB at rank 64, stays in L2). At rank 64, sgemm
on 66 × 66 × 224 took 0.38 s of CPU for the item side of a 3.8M-rating set and 0.49-0.52 s at
240-256 (a cliff between 224 and 240, likely OpenBLAS leaving its small-matrix kernel)."""
FUSED_PIECE = 448
"""Ratings per piece in ``_normal_fused`` (its partner rows, 112 KB at rank 64, stay in L2 across the
tile passes). 2-5% faster than 224 at ML-25M shape; there is no copy to keep small."""


@njit(cache=True, fastmath=True)
def _normal_blas(
    indices, values, other_factors, other_bias, start, end, base, A, b, Z, G, par
):  # pragma: no cover - numba
    """ZᵀZ and Zᵀt by BLAS ``sgemm`` per PIECE ratings, added into A (lower) and b in float64.

    Each piece is gathered as float32 rows ``[1, y_j, t_j]`` into ``Z`` (shape
    PIECE × (k+2)), so the (k+2)² product ``G`` (accumulated over pieces,
    beta = 1) holds ZᵀZ in its first k+1 rows and columns and Zᵀt in its last
    row. The product is taken in ``_gram_blocks(k+2)``² column blocks, of which only
    the blocks on and below the diagonal (in this row-major view) are computed:
    10 of 16 at rank 64, 0.26–0.28 s instead of 0.32–0.33 s of CPU for one
    side of a 3.8M-rating set (``docs/performance.md``), though each call is smaller.
    ``par`` holds the Fortran scalars (``blas.blas_params``).
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
    lines = prefetch_lines(stride)
    G[:] = 0.0
    for p0 in range(start, end, PIECE):
        m = min(PIECE, end - p0)
        for q in range(m):
            ahead = p0 + q + PREFETCH_AHEAD  # the row's first PREFETCH_AHEAD were asked for by the caller
            if ahead < end:
                prefetch_row(addr, stride, lines, indices[ahead])
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
def _normal_fused(
    indices, values, other_factors, other_bias, start, end, base, A, b, T, out, next_start, next_end
):  # pragma: no cover - numba
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
    LANES, VW, COLS = tile_lanes(), tile_vw(), tile_cols()
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
            gram_diag(
                yaddr,
                stride,
                iaddr,
                m,
                r0,
                r0,
                taddr,
                oaddr,
                indices.ctypes.data + 4 * (nxt + pf),
                pf_rows << shift,
                shift,
                aaddr,
                lda,
                add,
            )
            pf += pf_rows
            for i in range(LANES):  # Σ y (A's bias column) and Σ t·y (b) come back through out
                A[1 + r0 + i, 0] = A[1 + r0 + i, 0] + out[i] if add else out[i]
                b[1 + r0 + i] = b[1 + r0 + i] + out[LANES + i] if add else out[LANES + i]
            for c0 in range(r0 + VW, k, COLS):
                pf_rows = max(0, min(share, next_rows - pf))
                gram_tile(
                    yaddr,
                    stride,
                    iaddr,
                    m,
                    r0,
                    c0,
                    0,
                    oaddr,
                    indices.ctypes.data + 4 * (nxt + pf),
                    pf_rows << shift,
                    shift,
                    aaddr,
                    lda,
                    add,
                )
                pf += pf_rows


@njit(cache=True, fastmath=True)
def normal_equations(
    indices, values, other_factors, other_bias, start, end, base, A, b, Z, G, par, next_start=0, next_end=0
):  # pragma: no cover - numba
    """Set A's lower triangle and b to ZᵀZ and Zᵀt of a long row (A's upper triangle may be overwritten).

    ``_normal_fused`` when the rank allows it (k a multiple of ``LANES``, int32 indices, float32
    factor rows), borrowing ``Z`` for its targets and ``G`` for the diagonal tiles' Σ y and Σ t·y;
    else ``_normal_blas``.
    ``next_start:next_end`` is the row solved next (its first partners are prefetched).
    """
    k = other_factors.shape[1]
    LANES = tile_lanes()
    # The kernel reads the index list by address, so it must be contiguous int32 (a strided view would not be).
    fused_ok = indices.itemsize == 4 and indices.strides[0] == 4
    fused_ok = fused_ok and other_factors.itemsize == 4 and other_factors.strides[1] == 4
    if k % LANES == 0 and fused_ok and A.itemsize == 8 and A.strides[1] == 8:
        T = Z.ravel()[:FUSED_PIECE]
        out = G.ravel()[: tile_out_size()]
        _normal_fused(indices, values, other_factors, other_bias, start, end, base, A, b, T, out, next_start, next_end)
    else:
        A[:] = 0.0
        b[:] = 0.0
        _normal_blas(indices, values, other_factors, other_bias, start, end, base, A, b, Z, G, par)


@njit(cache=True)
def _gram_blocks(e):  # pragma: no cover - numba
    """Column blocks of the (k+2)² product: about 16 wide (4 at rank 64, 1 below rank 31)."""
    return max(1, min(4, e // 16))
