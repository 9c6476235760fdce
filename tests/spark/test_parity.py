"""Parity with the local engine on real MovieLens data: test RMSE within 1%, top-10 overlap reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec import ALS, ALSConfig, Dataset, load_movielens, recommend
from tests.spark.conftest import SPARK_MARKS

pytestmark = [*SPARK_MARKS, pytest.mark.realdata]

# Smaller than the defaults to keep CI short; the default config's numbers are in
# benchmarks/README.md ("Spark engine against the local engine"), measured by benchmarks/spark_vs_local.py.
CONFIG = ALSConfig(n_factors=16, n_iter=6)


def _rmse(model: ALS, test: Dataset) -> float:
    p = model.predict(test.ratings["user_id"].to_list(), test.ratings["movie_id"].to_list())
    return float(np.sqrt(np.mean((p.rating - test.ratings["rating"].to_numpy()) ** 2)))


def _overlap(a: ALS, b: ALS, users: list) -> float:
    return float(np.mean([len({r.movie_id for r in recommend(a, u)} & {r.movie_id for r in recommend(b, u)}) / 10
                          for u in users]))  # fmt: skip


def _check(train: Dataset, test: Dataset) -> None:
    from movierec.spark import SparkALS

    local, spark_model = ALS(CONFIG).fit(train), SparkALS(CONFIG).fit(train)
    r_local, r_spark = _rmse(local, test), _rmse(spark_model, test)
    overlap = _overlap(local, spark_model, train.users.ids.to_list()[::5])
    print(f"RMSE local {r_local:.4f} spark {r_spark:.4f} ({r_spark / r_local - 1:+.2%}); top-10 overlap {overlap:.2f}")
    assert abs(r_spark / r_local - 1) < 0.01
    # Different random starts give different lists; at this rank about half the films agree.
    assert overlap > 0.3


def test_parity_ml100k_u1(spark, data_home: Path) -> None:
    _check(load_movielens(data_home / "ml-100k" / "u1.base"), load_movielens(data_home / "ml-100k" / "u1.test"))


def test_parity_ml_latest_small(spark, data_home: Path, seed: int) -> None:
    ds = load_movielens(data_home / "ml-latest-small")
    held_out = np.random.default_rng(seed).random(ds.n_ratings) < 0.2
    _check(ds.subset(~held_out), ds.subset(held_out))
