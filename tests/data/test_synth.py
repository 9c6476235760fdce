"""The synthetic generator writes the number of ratings asked for, all distinct pairs, determined by the seed."""

from __future__ import annotations

import pytest

from movierec.data.synth import default_shape, synthetic_ratings


@pytest.mark.parametrize("n", [1_000, 10_000, 100_000])
def test_default_shape_gives_exactly_the_ratings_asked(n: int) -> None:
    # Before: 10,000 asked gave 1,386 rows (the ML-25M ratios leave too few distinct pairs below ~1M ratings).
    df = synthetic_ratings(n, seed=3)
    assert df.height == n and df.select("user_id", "movie_id").n_unique() == n
    n_users, n_items = default_shape(n)
    assert df["user_id"].max() <= n_users and df["movie_id"].max() <= n_items


def test_same_seed_same_ratings_and_another_seed_differs() -> None:
    assert synthetic_ratings(5_000, seed=1).equals(synthetic_ratings(5_000, seed=1))
    assert not synthetic_ratings(5_000, seed=1).equals(synthetic_ratings(5_000, seed=2))


def test_explicit_shape_tops_up_to_the_count_and_never_exceeds_the_pairs() -> None:
    assert synthetic_ratings(3_000, n_users=100, n_items=60, seed=4).height == 3_000  # half the matrix
    full = synthetic_ratings(3_000, n_users=40, n_items=50, seed=4)  # 2,000 pairs at most
    assert full.height <= 2_000 and full.select("user_id", "movie_id").n_unique() == full.height


def test_large_shapes_keep_the_ml25m_ratios() -> None:
    assert default_shape(25_000_000) == (25_000_000 // 154, 25_000_000 // 423)
