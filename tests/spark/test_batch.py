"""recommend-all on Spark: equals the one-user ranking, rated films excluded, 50k users in blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from typer.testing import CliRunner

from movierec import ALS, ALSConfig, recommend, save
from movierec.cli.main import app
from movierec.data import IdMap, RatingScale, synthetic_dataset
from movierec.data.dataset import empty_movies
from tests.spark.conftest import SPARK_MARKS

pytestmark = SPARK_MARKS


def _read(path: Path) -> pl.DataFrame:
    return pl.read_parquet(str(path / "*.parquet")).sort("user_id", "rank")


def test_every_list_equals_recommend_and_excludes_rated(spark, tmp_path: Path) -> None:
    from movierec.spark import recommend_all_spark

    ds = synthetic_dataset(20_000, n_users=300, n_items=250, seed=21)
    model = ALS(ALSConfig(n_factors=8, n_iter=3), policy=ALS.default_policy.with_overrides(min_ratings=10)).fit(ds)
    save(model, tmp_path / "m")
    rows = recommend_all_spark(tmp_path / "m", str(tmp_path / "out"), k=10, user_block=64)
    out = _read(tmp_path / "out")
    assert rows == out.height and out.columns == ["user_id", "rank", "movie_id", "score", "raw_score", "n_ratings"]
    assert out["n_ratings"].min() >= 10  # the model's guard, inclusive
    seen = ds.ratings.select("user_id", "movie_id")
    assert out.join(seen, on=["user_id", "movie_id"]).height == 0
    for user, group in out.group_by("user_id", maintain_order=True):
        expected = recommend(model, user[0], k=10)
        assert group["movie_id"].to_list() == [r.movie_id for r in expected]
        np.testing.assert_allclose(group["score"].to_numpy(), [r.score for r in expected], atol=1e-5)
    # The same command line as the local engine, and the same rows.
    res = CliRunner().invoke(app, ["recommend-all", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "cli"),
                                   "--engine", "spark", "--min-ratings", "0", "-k", "3", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["rows"] == 300 * 3 == _read(tmp_path / "cli").height


def _synthetic_model(n_users: int, n_items: int, n_factors: int, seed: int) -> ALS:
    """A fitted-looking ALS with random factors (no training needed to test scoring at scale)."""
    rng = np.random.default_rng(seed)
    m = ALS(ALSConfig(n_factors=n_factors), policy=ALS.default_policy.with_overrides(min_ratings=5))
    m.users_, m.items_ = IdMap(np.arange(n_users) + 1, "user"), IdMap(np.arange(n_items) + 1, "movie")
    m.user_factors_ = rng.standard_normal((n_users, n_factors)).astype(np.float32) * 0.3
    m.item_factors_ = rng.standard_normal((n_items, n_factors)).astype(np.float32) * 0.3
    m.user_bias_ = (rng.standard_normal(n_users) * 0.2).astype(np.float32)
    m.item_bias_ = (rng.standard_normal(n_items) * 0.3).astype(np.float32)
    per_user = 20
    cols = rng.integers(0, n_items, n_users * per_user)
    ui = sp.csr_matrix((np.full(cols.size, 4.0, np.float32), (np.repeat(np.arange(n_users), per_user), cols)),
                       shape=(n_users, n_items))  # fmt: skip
    ui.sum_duplicates()
    ui.data[:] = 4.0
    m.user_items_, m.item_counts_ = ui, np.diff(ui.tocsc().indptr).astype(np.int64)
    m.movies_ = empty_movies()
    m.scale_, m.global_mean_, m.data_fingerprint_ = RatingScale(), 3.5, "synthetic"
    m._finish_fit()
    return m


def test_fifty_thousand_users_in_blocks(spark, tmp_path: Path) -> None:
    from movierec.spark import recommend_all_spark

    # 50,000 users x 2,000 films at rank 10: the block path never holds users x films
    # (its memory bound is tested in tests/ranking/test_batch.py).
    model = _synthetic_model(50_000, 2_000, 10, seed=3)
    save(model, tmp_path / "m")
    rows = recommend_all_spark(tmp_path / "m", str(tmp_path / "out"), k=10, user_block=2048)
    assert rows == 50_000 * 10
    out = _read(tmp_path / "out")
    for user in (1, 777, 25_000, 50_000):  # brute force on a sample of users
        expected = [r.movie_id for r in recommend(model, user, k=10)]
        assert out.filter(pl.col("user_id") == user)["movie_id"].to_list() == expected


def test_every_model_is_ranked_on_the_executors_as_locally(spark, tmp_path: Path) -> None:
    """The default hybrid, a time-aware model and the dense-scored random baseline: the same lists as ``recommend``."""
    from movierec.models import make_model
    from movierec.spark import recommend_all_spark

    ds = synthetic_dataset(2083, n_users=90, n_items=60, seed=2)  # what 4,000 asked used to give
    small = {"hybrid": {"explicit": {"n_factors": 4, "n_iter": 2}, "implicit": {"n_factors": 4, "n_iter": 2}},
             "als-time": {"explicit": {"n_factors": 3, "n_iter": 2}}, "random": {}}  # fmt: skip
    for name, config in small.items():
        model = make_model(name, config).fit(ds)
        save(model, tmp_path / name)
        recommend_all_spark(tmp_path / name, str(tmp_path / f"out-{name}"), k=5, user_block=16)
        out = _read(tmp_path / f"out-{name}")
        assert out["user_id"].n_unique() == model.n_users
        for user in ds.users.ids.to_list()[::11]:
            expected = recommend(model, user, k=5)
            group = out.filter(pl.col("user_id") == user).sort("rank")
            assert group["movie_id"].to_list() == [r.movie_id for r in expected], name
            assert group["raw_score"].to_list() == [r.raw_score for r in expected], name
