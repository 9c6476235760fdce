"""The local ALS half-step: its long-row paths (rank >= BLAS_MIN_RANK, rows of one and many pieces;
fused Gram tiles when the rank is a multiple of LANES, BLAS sgemm otherwise) and CG."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from movierec.kernels._fast.blas import blas_params
from movierec.kernels._fast.gram import tile_shape
from movierec.kernels._fast.normal import FUSED_PIECE, PIECE, _normal_blas, normal_equations
from movierec.kernels.als import BLAS_MIN_RANK, BLAS_MIN_ROW, CG_MAX_ROW, CG_MIN_ROW, solve_half_step

LANES = tile_shape()[1]


# 20 and 40 are never multiples of LANES (16 or 32): sgemm, 40 in blocked products; 16 and 48 are with AVX2.
# 64 and 96 always are: fused tiles (two and three lane blocks with AVX-512).
@pytest.mark.parametrize("k", [BLAS_MIN_RANK, 16, 20, 40, 48, 64, 96])
def test_blas_path_matches_numpy_normal_equations_across_pieces(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n_other = 3 * PIECE + 50
    # Row lengths: empty, dual/scalar sizes, the BLAS threshold, exactly one piece, one piece + 1,
    # and several pieces with a ragged tail (the beta = 1 accumulation over sgemm calls).
    lengths = [0, 3, BLAS_MIN_ROW - 1, BLAS_MIN_ROW, 40, PIECE, PIECE + 1, 2 * PIECE + 17, 3 * PIECE + 50]
    rows = [np.sort(rng.choice(n_other, n, replace=False)) for n in lengths]
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32)
    values = rng.uniform(0.5, 5.0, indices.size).astype(np.float32)
    y = (rng.standard_normal((n_other, k)) * 0.5).astype(np.float32)
    other_b = rng.normal(0, 0.3, n_other).astype(np.float32)
    offset = rng.normal(0, 0.1, len(lengths)).astype(np.float32)
    mu, reg, bias_reg = 3.5, 0.05, 0.02
    f = np.full((len(lengths), k), np.nan, dtype=np.float32)
    b = np.full(len(lengths), np.nan, dtype=np.float32)
    solve_half_step(indptr, indices, values, y, other_b, offset, mu, reg, bias_reg, f, b)
    m = sp.csr_matrix((values, indices, indptr), shape=(len(lengths), n_other))
    for r, n in enumerate(lengths):
        if n == 0:
            assert b[r] == 0 and not f[r].any()
            continue
        cols = m.indices[m.indptr[r] : m.indptr[r + 1]]
        Z = np.column_stack([np.ones(n), y[cols].astype(np.float64)])
        t = m.data[m.indptr[r] : m.indptr[r + 1]].astype(np.float64) - mu - offset[r] - other_b[cols]
        w = np.linalg.solve(Z.T @ Z + np.diag([bias_reg * n] + [reg * n] * k), Z.T @ t)
        np.testing.assert_allclose(np.r_[b[r], f[r]], w, rtol=2e-4, atol=2e-5, err_msg=f"row of {n} ratings")


@pytest.mark.parametrize("k", [LANES, 2 * LANES, 3 * LANES])
def test_fused_gram_tiles_equal_the_sgemm_normal_equations(seed: int, k: int) -> None:
    """The two long-row kernels give the same ZᵀZ (lower) and Zᵀt on a row of several pieces, repeats included.

    ``normal_equations`` sets A's lower triangle and b whatever they held (here NaN; the upper triangle is
    its scratch, never read); ``_normal_blas`` (its fallback for other ranks) adds into zeros.
    """
    rng = np.random.default_rng(seed)
    n_other, n = 500, 2 * FUSED_PIECE + 37
    indices = rng.integers(0, n_other, n).astype(np.int32)  # repeated partners too: the kernels must not care
    values = rng.uniform(0.5, 5.0, n).astype(np.float32)
    y = (rng.standard_normal((n_other, k)) * 0.5).astype(np.float32)
    other_b = rng.normal(0, 0.3, n_other).astype(np.float32)
    d = k + 1
    results = []
    for kernel, fill in ((normal_equations, np.nan), (_normal_blas, 0.0)):
        A, b = np.full((d, d), fill), np.full(d, fill)
        Z = np.empty((PIECE, d + 1), np.float32)
        G = np.empty((d + 1, d + 1), np.float32)
        kernel(indices, values, y, other_b, 0, n, 3.5, A, b, Z, G, blas_params())
        results.append((A, b))
    (A1, b1), (A2, b2) = results
    Zr = np.column_stack([np.ones(n), y[indices].astype(np.float64)])
    t = values - 3.5 - other_b[indices].astype(np.float64)
    np.testing.assert_allclose(np.tril(A1), np.tril(Zr.T @ Zr), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(b1, Zr.T @ t, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(np.tril(A1), A2, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(b1, b2, rtol=1e-5, atol=1e-3)
    assert np.count_nonzero(np.triu(A2, 1)) == 0


def test_normal_gram_handles_strided_indices_and_empty_rows(seed: int) -> None:
    """A strided index view (not contiguous int32) takes the sgemm path, and gives the same sums; an empty
    row sets zeros, whatever A held."""
    rng = np.random.default_rng(seed)
    k, n_other, n = LANES * 2, 300, 700
    y = (rng.standard_normal((n_other, k)) * 0.5).astype(np.float32)
    other_b = rng.normal(0, 0.3, n_other).astype(np.float32)
    wide = rng.integers(0, n_other, 2 * n).astype(np.int32)
    strided, contiguous = wide[::2], wide[::2].copy()
    values = rng.uniform(0.5, 5.0, n).astype(np.float32)
    d = k + 1
    out = []
    for idx, start, end in ((strided, 0, n), (contiguous, 0, n), (contiguous, 5, 5)):
        A, b = np.full((d, d), np.nan), np.full(d, np.nan)
        Z, G = np.empty((PIECE, d + 1), np.float32), np.empty((d + 1, d + 1), np.float32)
        normal_equations(idx, values, y, other_b, start, end, 3.5, A, b, Z, G, blas_params())
        out.append((np.tril(A), b))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-5, atol=1e-3)
    assert not out[2][0].any() and not out[2][1].any()


def _cg_case(seed: int, k: int):  # type: ignore[no-untyped-def]
    """Rows on each side of the CG bounds (dual, exact BLAS, CG, beyond CG_MAX_ROW) and their exact solutions."""
    rng = np.random.default_rng(seed)
    n_other = CG_MAX_ROW + 300
    lengths = [5, CG_MIN_ROW - 1, CG_MIN_ROW, 300, CG_MAX_ROW, CG_MAX_ROW + 1]
    rows = [np.sort(rng.choice(n_other, n, replace=False)) for n in lengths]
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32)
    y = (rng.standard_normal((n_other, k)) * 0.5).astype(np.float32)
    other_b = rng.normal(0, 0.3, n_other).astype(np.float32)
    values = (3.5 + other_b[indices] + y[indices] @ rng.normal(0, 0.5, k) + rng.normal(0, 0.7, indices.size)).astype(np.float32)
    args = (indptr, indices, values, y, other_b, np.zeros(len(lengths), np.float32), 3.5, 0.1, 0.02)
    exact_f = np.zeros((len(lengths), k), np.float32)
    exact_b = np.zeros(len(lengths), np.float32)
    solve_half_step(*args, exact_f, exact_b)
    return args, lengths, exact_f, exact_b


@pytest.mark.parametrize("k", [8, 64])
def test_cg_reaches_the_exact_solution_with_enough_steps(seed: int, k: int) -> None:
    """CG in exact arithmetic solves a d×d system in d steps; in float32, d steps match to ~1e-3."""
    args, lengths, exact_f, exact_b = _cg_case(seed, k)
    f = np.zeros_like(exact_f)  # a cold start: nothing to lean on
    b = np.zeros_like(exact_b)
    solve_half_step(*args, f, b, k + 1)
    np.testing.assert_allclose(np.c_[b, f], np.c_[exact_b, exact_f], atol=2e-3)


def test_cg_improves_a_warm_start_and_leaves_other_rows_exact(seed: int) -> None:
    k = 32
    args, lengths, exact_f, exact_b = _cg_case(seed, k)
    rng = np.random.default_rng(seed + 1)
    start_f = exact_f + rng.normal(0, 0.05, exact_f.shape).astype(np.float32)  # last sweep's values
    start_b = exact_b + rng.normal(0, 0.05, exact_b.shape).astype(np.float32)
    f, b = start_f.copy(), start_b.copy()
    solve_half_step(*args, f, b, 3)
    err_before = np.abs(np.c_[start_b, start_f] - np.c_[exact_b, exact_f]).max(axis=1)
    err_after = np.abs(np.c_[b, f] - np.c_[exact_b, exact_f]).max(axis=1)
    for r, n in enumerate(lengths):
        if CG_MIN_ROW <= n <= CG_MAX_ROW:  # CG rows: 3 steps cut the error of the warm start (6-100x; 3x asked)
            assert err_after[r] < err_before[r] / 3, (n, err_before[r], err_after[r])
        else:  # the others are solved exactly whatever cg_steps says
            assert err_after[r] < 1e-5, (n, err_after[r])


def test_cg_rows_do_not_depend_on_the_rank_and_survive_a_zero_step(seed: int) -> None:
    """At rank 200 a 64-rating row is still CG (not the dual solve); a zero residual ends CG at once."""
    args, lengths, exact_f, exact_b = _cg_case(seed, 200)
    f, b = exact_f.copy(), exact_b.copy()
    solve_half_step(*args, f, b, 3)  # started at the solution: nothing to do, no 0/0
    assert np.isfinite(f).all() and np.isfinite(b).all()
    np.testing.assert_allclose(np.c_[b, f], np.c_[exact_b, exact_f], atol=1e-3)
    cold_f, cold_b = np.zeros_like(exact_f), np.zeros_like(exact_b)
    solve_half_step(*args, cold_f, cold_b, 1)  # one step from zero on a 201-unknown system: not the exact answer
    row = lengths.index(CG_MIN_ROW)
    assert np.abs(cold_f[row] - exact_f[row]).max() > 1e-3


@pytest.mark.slow
def test_the_fast_route_is_removable(tmp_path, seed: int) -> None:  # noqa: ANN001
    """Without kernels/_fast (simulated: its import fails), the portable stand-ins fit the same model to float32 rounding.

    Each route runs in a child process with a Numba cache of its own: Numba keys its disk cache on a
    kernel's own source file, so a cache filled by one route would hand the other its compiled code.
    """
    import json
    import os
    import subprocess
    import sys

    code = f"""
import sys, json
if sys.argv[1] == "portable":
    sys.modules["movierec.kernels._fast"] = None  # import of the package fails, as if it were deleted
from movierec import ALS, ALSConfig
from movierec.data import synthetic_dataset
import movierec.kernels.als as k
ds = synthetic_dataset(3000, n_users=60, n_items=40, seed={seed})
m = ALS(ALSConfig(n_factors=16, n_iter=4)).fit(ds)
print(json.dumps({{"route": k.normal_equations.py_func.__module__, "pred": m.predict(ds.users.ids[:20].to_list(), ds.items.ids[:20].to_list()).raw.tolist()}}))
"""
    out = {}
    for route in ("fast", "portable"):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / f"numba-{route}")}
        r = subprocess.run([sys.executable, "-c", code, route], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        out[route] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["fast"]["route"].endswith("_fast.normal") and out["portable"]["route"].endswith("kernels.portable")
    np.testing.assert_allclose(out["portable"]["pred"], out["fast"]["pred"], atol=1e-4)
