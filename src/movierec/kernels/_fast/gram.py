"""Gram tile kernel in LLVM IR: a row's ZᵀZ straight from the factor array, no gathered copy.

The normal equations of a row with partners j_1..j_n need Σ_p y_p y_pᵀ with
y_p = Y[j_p]. Copying the rows into a block and calling BLAS ``sgemm`` spends
time on the copy and on a dozen small calls per block; this kernel reads the
rows in place, through the row's index list, and keeps one tile of the sum in
vector registers: ``LANES`` rows (``r0 .. r0+LANES`` of the k × k sum) by
``COLS`` columns (``c0 .. c0+COLS``), two fused multiply-adds per column and
partner, as a GEMM micro-kernel does (Goto & van de Geijn, "Anatomy of
high-performance matrix multiplication", ACM TOMS 34(3), 2008,
doi:10.1145/1356052.1356053). Numba has no vector types, so the loop is
written in LLVM IR (llvmlite) and called through two intrinsics.

The tile follows the float32 vector width of the CPU Numba compiles for:
32 × 8 with AVX-512, 16 × 4 otherwise (AVX2's 16 registers). On the diagonal of
the sum only the lanes up to each column are needed: a diagonal tile is one
vector of VW lanes by VW columns (16 × 16 with AVX-512). Results do not
depend on it beyond float32 rounding. Numba caches compiled kernels per CPU
name and features, so a cache never mixes the two.
"""

from __future__ import annotations

import functools

from llvmlite import ir
from numba import types
from numba.core import config
from numba.core.codegen import get_host_cpu_features
from numba.extending import intrinsic

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def emit_prefetch(builder: ir.IRBuilder, addr: ir.Value, locality: int) -> None:
    """Emit LLVM ``prefetch`` (read, data cache) of the i64 byte address ``addr``; locality 3 keeps the
    line in every cache level, 2 in L2 and below. llvmlite mangles the name for its pointer type
    (checked: LLVM 14 with Numba 0.59, LLVM 22 with 0.68)."""
    i8p = ir.IntType(8).as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32])
    fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
    read, data_cache = ir.Constant(_I32, 0), ir.Constant(_I32, 1)
    builder.call(fn, [builder.inttoptr(addr, i8p), read, ir.Constant(_I32, locality), data_cache])


@functools.cache
def tile_shape() -> tuple[int, int, int, int]:
    """(VW, LANES, COLS, OUT_SIZE) for the CPU Numba's JIT compiles for, decided on first use.

    VW: float32 lanes of one vector register (16 with AVX-512F, else 8), also the side of a
    diagonal tile; LANES = 2·VW rows of the k × k sum per tile (two vector registers); COLS
    columns per tile (2·COLS accumulators: 16 of AVX-512's 32 registers, or AVX2's 16);
    OUT_SIZE = 2·LANES float32 that ``gram_diag`` writes to ``out``. Numba's target features are
    ``NUMBA_CPU_FEATURES`` if set, else the host's (kept even when ``NUMBA_CPU_NAME`` names
    another CPU; ``NUMBA_ENABLE_AVX=0`` drops the AVX ones). Read when a kernel is compiled,
    never at import.
    """
    chosen = getattr(config, "CPU_FEATURES", None)  # NUMBA_CPU_FEATURES, when the user set it
    features = chosen if chosen is not None else get_host_cpu_features()
    vw = 16 if "+avx512f" in features.split(",") else 8
    return vw, _MRV * vw, 8 if vw == 16 else 4, 2 * _MRV * vw


_MRV = 2  # vector registers per tile column


def _constant(index: int, name: str):  # type: ignore[no-untyped-def]
    """An intrinsic returning ``tile_shape()[index]`` as a compile-time constant inside Numba code."""

    def typer(typingctx):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return context.get_constant(types.intp, tile_shape()[index])

        return types.intp(), codegen

    typer.__name__ = name
    return intrinsic(typer)


tile_lanes = _constant(1, "tile_lanes")
"""``tile_lanes()`` in Numba code: LANES of ``tile_shape``, fixed when the calling kernel is compiled."""
tile_vw = _constant(0, "tile_vw")
"""``tile_vw()``: VW of ``tile_shape``."""
tile_cols = _constant(2, "tile_cols")
"""``tile_cols()``: COLS of ``tile_shape``."""
tile_out_size = _constant(3, "tile_out_size")
"""``tile_out_size()``: OUT_SIZE of ``tile_shape``."""


def _tile_function(module: ir.Module, diagonal: bool) -> ir.Function:
    """Define (once per module) ``void f(y, stride, idx, m, r0, c0, t, out, pf_idx, pf_n, pf_shift, a, lda, add)``.

    All arguments i64, addresses in bytes. For p < m, with j = idx[p] (int32) and y_p the float32
    row at ``y + j·stride``, the column sums S[c] (float32 vectors, converted to float64) go to the
    float64 matrix A at ``a`` (row stride ``lda``): written if ``add`` is 0, added otherwise.

    - tile: ``A[1 + c0 + c, 1 + r0 : 1 + r0 + LANES] (+)= Σ_p y_p[c0 + c] · y_p[r0 : r0 + LANES]``
      for c < COLS.
    - diagonal (c0 = r0): ``A[1 + r0 + c, 1 + r0 : 1 + r0 + VW] (+)= Σ_p y_p[r0 + c] · y_p[r0 : r0 + VW]``
      for c < VW (the lanes past column c fall in A's upper triangle, scratch); and to ``out``
      (float32, written) ``Σ_p y_p[r0 : r0 + LANES]`` then ``Σ_p t[p] · y_p[r0 : r0 + LANES]`` (t float32).

    Iteration p < pf_n also prefetches cache line ``p mod 2^pf_shift`` of the row of partner
    ``pf_idx[p >> pf_shift]`` (int32), so that the rows of the next piece load while this one is summed.
    """
    VW, _, COLS, _ = tile_shape()
    name = f"movierec_gram_{VW}x{_MRV}x{COLS}{'_diag' if diagonal else ''}"
    if name in module.globals:
        return module.globals[name]
    vec = ir.VectorType(_F32, VW)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_I64] * 14), name=name)
    fn.linkage = "internal"
    y, stride, idx, m, r0, c0, t, out, pf_idx, pf_n, pf_shift, a_addr, lda, add = fn.args
    fma_name = f"llvm.fmuladd.v{VW}f32"
    fma = module.globals.get(fma_name) or ir.Function(module, ir.FunctionType(vec, [vec] * 3), name=fma_name)
    blocks = [fn.append_basic_block(n) for n in ("entry", "loop", "prefetch", "body", "done")]
    entry, loop, pf_block, body, done = blocks

    def const(v: int) -> ir.Constant:
        return ir.Constant(_I64, v)

    def at(addr: ir.Value, ty: ir.Type) -> ir.Value:
        return b.inttoptr(addr, ty.as_pointer())

    zero = ir.Constant(vec, [0.0] * VW)
    n_cols, n_vec = (VW, 1) if diagonal else (COLS, _MRV)  # column sums, each over n_vec vectors of lanes
    n_acc = n_cols * n_vec + (2 * _MRV if diagonal else 0)
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", m, const(0)), loop, done)

    b = ir.IRBuilder(loop)
    p = b.phi(_I64)
    acc = [b.phi(vec) for _ in range(n_acc)]
    b.cbranch(b.icmp_signed("<", p, pf_n), pf_block, body)

    b = ir.IRBuilder(pf_block)
    line = b.and_(p, b.sub(b.shl(const(1), pf_shift), const(1)))
    jn = b.sext(b.load(at(b.add(pf_idx, b.mul(b.lshr(p, pf_shift), const(4))), _I32), align=4), _I64)
    addr = b.add(b.add(y, b.mul(jn, stride)), b.mul(line, const(64)))
    emit_prefetch(b, addr, 2)  # into L2, not L1: 4-6% faster than locality 3 when partners come from memory or L3
    b.branch(body)

    b = ir.IRBuilder(body)
    j = b.sext(b.load(at(b.add(idx, b.mul(p, const(4))), _I32), align=4), _I64)
    row = b.add(y, b.mul(j, stride))
    lanes = [b.load(at(b.add(row, b.mul(b.add(r0, const(v * VW)), const(4))), vec), align=4) for v in range(_MRV)]
    undef = ir.Constant(vec, ir.Undefined)
    splat = ir.Constant(ir.VectorType(_I32, VW), [0] * VW)

    def broadcast(s: ir.Value) -> ir.Value:
        return b.shuffle_vector(b.insert_element(undef, s, ir.Constant(_I32, 0)), undef, splat)

    new = []
    for c in range(n_cols):
        s = broadcast(b.load(at(b.add(row, b.mul(b.add(c0, const(c)), const(4))), _F32), align=4))
        new += [b.call(fma, [lanes[v], s, acc[c * n_vec + v]]) for v in range(n_vec)]
    if diagonal:
        base = n_cols * n_vec
        new += [b.fadd(acc[base + v], lanes[v]) for v in range(_MRV)]
        tp = broadcast(b.load(at(b.add(t, b.mul(p, const(4))), _F32), align=4))
        new += [b.call(fma, [lanes[v], tp, acc[base + _MRV + v]]) for v in range(_MRV)]
    p_next = b.add(p, const(1))
    b.cbranch(b.icmp_signed("<", p_next, m), loop, done)
    p.add_incoming(const(0), entry)
    p.add_incoming(p_next, body)
    for a, a_next in zip(acc, new, strict=False):
        a.add_incoming(zero, entry)
        a.add_incoming(a_next, body)

    b = ir.IRBuilder(done)
    sums = []
    for a_next in new:  # PHI nodes first, then the stores
        s = b.phi(vec)
        s.add_incoming(zero, entry)
        s.add_incoming(a_next, body)
        sums.append(s)
    dvec = ir.VectorType(ir.DoubleType(), VW)
    wide = [b.fpext(s, dvec) for s in sums[: n_cols * n_vec]]
    targets = []  # A[1 + c0 + c, 1 + r0 + v·VW :], float64 (lanes past the diagonal land in A's unused upper part)
    for c in range(n_cols):
        row_addr = b.add(a_addr, b.mul(b.add(c0, const(1 + c)), lda))
        targets += [at(b.add(row_addr, b.mul(b.add(r0, const(1 + v * VW)), const(8))), dvec) for v in range(n_vec)]
    for i, s in enumerate(sums[n_cols * n_vec :]):
        b.store(s, at(b.add(out, const(4 * VW * i)), vec), align=4)
    assign, accumulate = fn.append_basic_block("assign"), fn.append_basic_block("accumulate")
    b.cbranch(b.icmp_signed("!=", add, const(0)), accumulate, assign)
    b = ir.IRBuilder(assign)
    for w, ptr in zip(wide, targets, strict=False):
        b.store(w, ptr, align=8)
    b.ret_void()
    b = ir.IRBuilder(accumulate)
    for w, ptr in zip(wide, targets, strict=False):
        b.store(b.fadd(b.load(ptr, align=8), w), ptr, align=8)
    b.ret_void()
    return fn


def _tile_intrinsic(diagonal: bool):  # type: ignore[no-untyped-def]
    def typer(typingctx, y, stride, idx, m, r0, c0, t, out, pf_idx, pf_n, pf_shift, a, lda, add):  # type: ignore[no-untyped-def]
        args = (y, stride, idx, m, r0, c0, t, out, pf_idx, pf_n, pf_shift, a, lda, add)
        if not all(isinstance(a, types.Integer) for a in args):
            return None

        def codegen(context, builder, signature, llargs):  # type: ignore[no-untyped-def]
            fn = _tile_function(builder.module, diagonal)
            wide = [context.cast(builder, v, ty, types.int64) for v, ty in zip(llargs, signature.args, strict=False)]
            builder.call(fn, wide)
            return context.get_dummy_value()

        return types.void(*args), codegen

    typer.__name__ = "gram_diag" if diagonal else "gram_tile"
    return intrinsic(typer)


gram_tile = _tile_intrinsic(False)
"""``gram_tile(y, stride, idx, m, r0, c0, 0, out, pf_idx, pf_n, pf_shift, a, lda, add)``: one LANES × COLS
tile of Σ_p y_p y_pᵀ into A (see ``_tile_function``)."""
gram_diag = _tile_intrinsic(True)
"""``gram_diag(y, stride, idx, m, r0, r0, t, out, pf_idx, pf_n, pf_shift, a, lda, add)``: the VW × VW diagonal
tile at r0 into A, with Σ_p y_p and Σ_p t_p y_p on the LANES lanes from r0 into ``out``."""
