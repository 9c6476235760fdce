"""The one-pass top-k kernel against the partition-and-sort reference (same tie rule)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from movierec.ranking.topk import KERNEL_MAX_K, _top_k_sort, top_k


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 60),
    k=st.integers(0, 70),
    seed=st.integers(0, 2**32 - 1),
    n_levels=st.integers(1, 6),
)
def test_kernel_matches_sort_reference_with_ties_and_non_finite(n: int, k: int, seed: int, n_levels: int) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct scores and counts so ties on both keys are common; NaN and ±inf included.
    scores = rng.integers(0, n_levels, n).astype(np.float32)
    scores[rng.random(n) < 0.1] = np.nan
    scores[rng.random(n) < 0.05] = np.inf
    scores[rng.random(n) < 0.05] = -np.inf
    candidates = rng.random(n) < 0.8
    counts = rng.integers(0, 3, n).astype(np.int64)
    got = top_k(scores, candidates, k, counts)
    want = _top_k_sort(scores, candidates, k, counts) if k > 0 else np.zeros(0, dtype=np.int64)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


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
    """Counts as uint32 (0 included): the sort path negates them, which must not wrap."""
    n = 2 * KERNEL_MAX_K
    scores = np.zeros(n, dtype=np.float32)
    counts = np.tile(np.array([0, 5, 2], dtype=np.uint32), n // 3 + 1)[:n]
    want = np.lexsort((np.arange(n), -counts.astype(np.int64)))
    long = KERNEL_MAX_K + 1  # the partition-and-sort path
    np.testing.assert_array_equal(top_k(scores, np.ones(n, dtype=bool), long, counts), want[:long])
    np.testing.assert_array_equal(top_k(scores, np.ones(n, dtype=bool), 10, counts), want[:10])


def test_float64_and_strided_inputs_match_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 4, (90, 3)).astype(np.float64)  # ties common; column views are strided
    grid[rng.random((90, 3)) < 0.1] = np.nan
    counts = rng.integers(0, 3, 180)[::2]
    candidates = (rng.random(180) < 0.8)[::2]
    for col in range(3):
        scores = grid[:, col]
        assert not scores.flags.c_contiguous
        for k in (0, 1, 7, 90, 200):
            want = _top_k_sort(scores, candidates, k, counts) if k else np.zeros(0, dtype=np.int64)
            np.testing.assert_array_equal(top_k(scores, candidates, k, counts), want)
