"""The local ALS half-step on its BLAS path (rank >= BLAS_MIN_RANK, rows of one and many sgemm pieces)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from movierec.engines.local import BLAS_MIN_RANK, BLAS_MIN_ROW, PIECE, solve_half_step


@pytest.mark.parametrize("k", [BLAS_MIN_RANK, 20, 40, 64])  # 40, 64: wide enough for blocked products
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
