"""The one top-k: both kernels (dense blocks, linear forms) against the NumPy oracle, ties and exclusions included."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from movierec.models.base import LinearScores
from movierec.ranking.topk import KERNEL_MAX_K, Eligible, rank_block, reference_top_k, top_k


def _rows(rng: np.random.Generator, n_block: int, n: int, p: float) -> sp.csr_matrix:
    m = sp.csr_matrix((rng.random((n_block, n)) < p).astype(np.float32))
    m.sort_indices()
    return m


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 60),
    n_block=st.integers(1, 9),
    k=st.integers(0, 70),
    seed=st.integers(0, 2**32 - 1),
    n_levels=st.integers(1, 6),
    demote=st.booleans(),
)
def test_dense_kernel_matches_the_oracle_with_ties_exclusions_and_non_finite(
    n: int, n_block: int, k: int, seed: int, n_levels: int, demote: bool
) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct scores and tie keys so ties on both are common; NaN and ±inf included.
    scores = rng.integers(0, n_levels, (n_block, n)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.1] = np.nan
    scores[rng.random(scores.shape) < 0.05] = np.inf
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    eligible = Eligible.from_mask(rng.random(n) < 0.8, rng.integers(0, 3, n))
    rated = _rows(rng, n_block, n, 0.2)
    dem = _rows(rng, n_block, n, 0.3) if demote else None
    got_i, got_s = rank_block(scores, eligible, rated, k, dem)
    want_i, want_s = reference_top_k(scores, eligible, rated, k, dem)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


@settings(max_examples=60, deadline=None)
@given(n_block=st.integers(1, 300), n=st.integers(1, 2500), d=st.integers(0, 9), k=st.integers(1, 12),
       seed=st.integers(0, 2**32 - 1), demote=st.booleans())  # fmt: skip
def test_linear_kernel_matches_the_oracle_on_its_own_dense_scores(n_block: int, n: int, d: int, k: int, seed: int, demote: bool) -> None:
    rng = np.random.default_rng(seed)
    # Small integers: every sum exact in float32, so the dense product and the tiles agree bit for bit
    form = LinearScores.of(rng.integers(-2, 3, (n_block, d)), rng.integers(-2, 3, (n, d)), rng.integers(0, 3, n), rng.integers(0, 2, n_block))
    eligible = Eligible.from_mask(rng.random(n) < 0.7, rng.integers(0, 4, n))
    rated = _rows(rng, n_block, n, 0.05)
    dem = _rows(rng, n_block, n, 0.05) if demote else None
    got_i, got_s = rank_block(form, eligible, rated, k, dem)
    want_i, want_s = reference_top_k(form.dense(), eligible, rated, k, dem)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


def test_a_block_of_one_equals_its_row_in_a_larger_block(seed: int) -> None:
    """BLAS scores one row by its matrix-vector route (other sums in the last bit); the kernel never lets it."""
    rng = np.random.default_rng(seed)
    form = LinearScores.of(rng.standard_normal((64, 64)), rng.standard_normal((3000, 64)), rng.standard_normal(3000), np.zeros(64))
    eligible = Eligible.from_mask(np.ones(3000, bool), np.zeros(3000))
    none = sp.csr_matrix((64, 3000), dtype=np.float32)
    all_i, all_s = rank_block(form, eligible, none, 20)
    for u in (0, 17, 63):
        one = LinearScores.of(form.user_vectors[u : u + 1], form.item_vectors, form.item_offset, form.user_offset[u : u + 1])
        i, s = rank_block(one, eligible, none[u], 20)
        np.testing.assert_array_equal(i[0], all_i[u])
        np.testing.assert_array_equal(s[0], all_s[u])


def test_tie_rule_more_ratings_then_smaller_position() -> None:
    scores = np.array([2.0, 3.0, 3.0, 3.0, 1.0], dtype=np.float32)
    counts = np.array([9, 5, 7, 7, 100])
    assert top_k(scores, np.ones(5, dtype=bool), 3, counts).tolist() == [2, 3, 1]


def test_long_lists_take_the_sorting_path() -> None:
    rng = np.random.default_rng(0)
    n = 3 * KERNEL_MAX_K
    scores = rng.standard_normal(n).astype(np.float32)
    got = top_k(scores, np.ones(n, dtype=bool), 2 * KERNEL_MAX_K, np.zeros(n, dtype=np.int64))
    np.testing.assert_array_equal(got, np.argsort(-scores, kind="stable")[: 2 * KERNEL_MAX_K])


def test_unsigned_counts_order_ties_alike_on_both_paths() -> None:
    """Counts as uint32 (0 included) are widened to int64 keys, never wrapped."""
    n = 2 * KERNEL_MAX_K
    scores = np.zeros(n, dtype=np.float32)
    counts = np.tile(np.array([0, 5, 2], dtype=np.uint32), n // 3 + 1)[:n]
    want = np.lexsort((np.arange(n), -counts.astype(np.int64)))
    long = KERNEL_MAX_K + 1  # the sorting path
    np.testing.assert_array_equal(top_k(scores, np.ones(n, dtype=bool), long, counts), want[:long])
    np.testing.assert_array_equal(top_k(scores, np.ones(n, dtype=bool), 10, counts), want[:10])


def test_float64_and_strided_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 4, (90, 3)).astype(np.float64)  # ties common; column views are strided
    grid[rng.random((90, 3)) < 0.1] = np.nan
    counts = rng.integers(0, 3, 180)[::2]
    candidates = (rng.random(180) < 0.8)[::2]
    for col in range(3):
        scores = grid[:, col]
        assert not scores.flags.c_contiguous
        for k in (0, 1, 7, 90, 200):
            cand = np.flatnonzero(candidates & np.isfinite(scores))
            want = cand[np.lexsort((cand, -counts[cand], -scores[cand]))][:k]
            np.testing.assert_array_equal(top_k(scores, candidates, k, counts), want)
