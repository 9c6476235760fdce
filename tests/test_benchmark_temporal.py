"""The temporal benchmark's own statistics: the paired user bootstrap and the leak-free inner split."""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks.temporal import inner_split, paired_bootstrap
from movierec.data import Dataset, RatingScale


def test_paired_bootstrap_known_answers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 50, 2000)
    sq = rng.exponential(1.0, 2000)
    assert paired_bootstrap(sq, sq, users) == [0.0, 0.0]
    lo, hi = paired_bootstrap(sq, sq + 0.5, users)
    assert 0 < lo <= hi  # worse on every pair: the whole interval is above 0
    # One user carries the whole difference: the interval must reach 0 (that user is often left out).
    worse = sq.copy()
    worse[users == 7] += 5.0
    lo, hi = paired_bootstrap(sq, worse, users)
    assert lo == 0.0 and hi > 0


def test_inner_chrono_split_uses_training_data_only_and_no_future(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    df = pl.DataFrame({
        "user_id": rng.integers(0, 60, n), "movie_id": rng.integers(0, 80, n),
        "rating": rng.integers(1, 6, n).astype(np.float32), "timestamp": rng.integers(0, 10**7, n) + 10**9,
    }).unique(["user_id", "movie_id"], keep="first", maintain_order=True)  # fmt: skip
    train = Dataset.from_frames(df, None, RatingScale(1.0, 5.0, 1.0), "synthetic")
    split = inner_split(train, "chrono")
    assert split.train.n_ratings + split.test.n_ratings == train.n_ratings
    assert split.train.ratings["timestamp"].max() <= split.test.ratings["timestamp"].min()
    assert 0.15 < split.test.n_ratings / train.n_ratings < 0.25
