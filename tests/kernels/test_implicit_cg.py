"""The implicit-feedback half-step (float32 row terms): its CG and exact routes against the reference solve."""

from __future__ import annotations

import numpy as np

from movierec.kernels.implicit import solve_implicit_half_step
from movierec.kernels.reference import implicit_half_step as reference


def _case(seed: int, k: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    n_other = 300
    lengths = [0, 1, 5, 40, 299]
    rows = [np.sort(rng.choice(n_other, n, replace=False)) for n in lengths]
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32)
    confidence = (1.0 + 10.0 * rng.uniform(size=indices.size)).astype(np.float32)
    preference = rng.integers(0, 2, indices.size).astype(np.float32)
    Y = (0.3 * rng.standard_normal((n_other, k))).astype(np.float32)
    gram = Y.astype(np.float64).T @ Y.astype(np.float64)
    return indptr, indices, confidence, preference, Y, gram


def test_implicit_cg_reaches_the_exact_solution_with_enough_steps(seed: int) -> None:
    k = 16
    indptr, indices, confidence, preference, Y, gram = _case(seed, k)
    exact = np.zeros((len(indptr) - 1, k), np.float32)
    reference(indptr, indices, confidence, preference, Y, gram, 0.05, exact)
    cg = np.ones_like(exact)  # CG starts from the row's current factors
    solve_implicit_half_step(indptr, indices, confidence, preference, Y, gram, 0.05, cg, 60)
    assert not cg[0].any()  # a row without entries is 0
    np.testing.assert_allclose(cg, exact, rtol=2e-3, atol=2e-4)


def test_three_implicit_cg_steps_from_a_warm_start_move_towards_the_exact_solution(seed: int) -> None:
    k = 32
    indptr, indices, confidence, preference, Y, gram = _case(seed, k)
    exact = np.zeros((len(indptr) - 1, k), np.float32)
    reference(indptr, indices, confidence, preference, Y, gram, 0.05, exact)
    start = exact + 0.05 * np.random.default_rng(seed).standard_normal(exact.shape).astype(np.float32)
    cg = start.copy()
    solve_implicit_half_step(indptr, indices, confidence, preference, Y, gram, 0.05, cg, 3)
    before = np.linalg.norm(start[1:] - exact[1:], axis=1)
    after = np.linalg.norm(cg[1:] - exact[1:], axis=1)
    assert np.all(after < 0.5 * before)


def test_the_exact_route_matches_the_reference_solve_for_rows_of_every_length(seed: int) -> None:
    """Rows of 0, 1, 5, 40 and 299 entries: none, only the single updates, blocks of eight and a ragged tail."""
    k = 24
    indptr, indices, confidence, preference, Y, gram = _case(seed, k)
    want = np.zeros((len(indptr) - 1, k), np.float32)
    reference(indptr, indices, confidence, preference, Y, gram, 0.05, want)
    got = np.full_like(want, np.nan)
    solve_implicit_half_step(indptr, indices, confidence, preference, Y, gram, 0.05, got, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_badly_conditioned_row_is_solved_not_left_nan(seed: int) -> None:
    """Nearly collinear factors and λ near 0: float32 sums can break positive definiteness; the row is summed again."""
    rng = np.random.default_rng(seed)
    k, n_other = 64, 6000
    base = rng.standard_normal((n_other, 1))
    Y = (0.3 * (base + 1e-3 * rng.standard_normal((n_other, k)))).astype(np.float32)
    lengths = [9, 300, 5000]
    indices = np.concatenate([np.sort(rng.choice(n_other, n, replace=False)) for n in lengths]).astype(np.int32)
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    confidence = (1.0 + 99.0 * rng.uniform(size=indices.size)).astype(np.float32)
    preference = np.ones(indices.size, np.float32)
    gram = Y.astype(np.float64).T @ Y.astype(np.float64)
    want = np.zeros((3, k), np.float32)
    reference(indptr, indices, confidence, preference, Y, gram, 1e-5, want)
    got = np.full_like(want, np.nan)
    solve_implicit_half_step(indptr, indices, confidence, preference, Y, gram, 1e-5, got, 0)
    assert np.isfinite(got).all()
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - want) <= 0.5 * scale)  # the right solution, to what the conditioning allows
