"""Quality floors on real MovieLens data (from MOVIEREC_DATA_HOME; never copied here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec import ALS, ALSConfig, load_movielens, recommend
from movierec.data.profile import DEMO_PROFILE
from movierec.models import Hybrid
from movierec.ranking.demo import demo_lists


def rmse(model: ALS, test) -> float:
    p = model.predict(test.ratings["user_id"].to_list(), test.ratings["movie_id"].to_list())
    return float(np.sqrt(np.mean((p.rating - test.ratings["rating"].to_numpy()) ** 2)))


def test_ml100k_u1_rmse_default_config(data_home: Path) -> None:
    train = load_movielens(data_home / "ml-100k" / "u1.base")
    test = load_movielens(data_home / "ml-100k" / "u1.test")
    model = ALS().fit(train)
    # Surprise's SVD averages 0.934 on these folds; our floor is 0.925.
    assert rmse(model, test) <= 0.925


def test_demo_profile_guarded_list(data_home: Path) -> None:
    model = Hybrid().fit(load_movielens("ml-latest-small"))
    lists = demo_lists(model)
    guard = lists["min_ratings"]
    guarded = lists["guarded"]
    assert len(guarded) == 10 and all(r.n_ratings >= guard for r in guarded)
    family = [r.title for r in guarded if {"Animation", "Children"} & set(r.genres)]
    assert len(family) >= 5, [r.title for r in guarded]
    assert not any("Horror" in r.genres for r in guarded)
    rated = {m for m, _ in DEMO_PROFILE}
    assert not rated & {r.movie_id for r in guarded} and not rated & {r.movie_id for r in lists["unguarded"]}
    # The unguarded research list is reported as it is: it holds films below the guard.
    assert any(r.n_ratings < guard for r in lists["unguarded"])


def test_fold_in_agrees_with_retraining(data_home: Path) -> None:
    ds = load_movielens("ml-latest-small")
    cfg = ALSConfig()
    model = ALS(cfg).fit(ds)
    folded = [r.movie_id for r in recommend(model, ratings=DEMO_PROFILE, k=10)]
    import polars as pl

    extra = pl.DataFrame(
        {"user_id": [-1] * len(DEMO_PROFILE), "movie_id": [m for m, _ in DEMO_PROFILE],
         "rating": [float(r) for _, r in DEMO_PROFILE], "timestamp": [1_600_000_000] * len(DEMO_PROFILE)},
        schema_overrides={"rating": pl.Float32},
    )  # fmt: skip
    from movierec.data import Dataset

    both = Dataset.from_frames(pl.concat([ds.ratings.select(extra.columns), extra]), ds.movies, ds.scale)
    retrained = ALS(cfg).fit(both)
    again = [r.movie_id for r in recommend(retrained, -1, k=10)]
    assert len(set(folded) & set(again)) >= 6


@pytest.mark.slow
def test_default_model_beats_most_popular_on_stratified_ml100k(data_home: Path) -> None:
    """The ranking floor, on Microsoft Recommenders' protocol (stratified 75/25, seed 42, top-10, any test rating)."""
    from movierec.evaluation.protocols import EvalOptions, SplitOptions, run_protocol

    result = run_protocol("ml-100k", "stratified", ["hybrid", "popular"], split_options=SplitOptions(test_fraction=0.25, seed=42),
                          options=EvalOptions(k=10))  # fmt: skip
    ndcg = {row["model"]: row["ndcg"] for row in result.summary()}
    coverage = {row["model"]: row["coverage"] for row in result.summary()}
    assert ndcg["hybrid"] >= 0.40 > ndcg["popular"]
    assert coverage["hybrid"] > 5 * coverage["popular"]  # not bought by collapsing to the most popular films
