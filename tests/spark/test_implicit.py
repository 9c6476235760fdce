"""Spark engine, ``als-implicit`` through ``implicitPrefs``: parity with the local engine, CLI, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from movierec import DataValidationError, load, recommend
from movierec.cli.main import app
from movierec.data import RatingScale, synthetic_dataset
from movierec.evaluation.protocols import EvalOptions, SplitOptions, run_protocol
from movierec.models import ImplicitALS, ImplicitConfig
from tests.conftest import small_dataset
from tests.spark.conftest import SPARK_MARKS

pytestmark = SPARK_MARKS

# Smaller than the defaults to keep CI short; the default config's numbers are in
# benchmarks/README.md ("Spark engine against the local engine").
CONFIG = ImplicitConfig(n_factors=16, n_iter=6, solver="cholesky")  # Spark solves exactly: compare like with like


@pytest.mark.realdata
def test_parity_ndcg_ml100k_stratified(spark, data_home: Path) -> None:
    from movierec.spark import SparkImplicitALS

    fitted: dict[str, ImplicitALS] = {}

    def build(name: str) -> ImplicitALS:
        fitted[name] = SparkImplicitALS(CONFIG) if name == "spark" else ImplicitALS(CONFIG)
        return fitted[name]

    result = run_protocol(str(data_home / "ml-100k"), "stratified", ["local", "spark"],
                          split_options=SplitOptions(seed=42), options=EvalOptions(k=10), factory=build)  # fmt: skip
    ndcg = {r["model"]: r["ndcg"] for r in result.rows}
    local, spark_model = fitted["local"], fitted["spark"]
    assert isinstance(spark_model, SparkImplicitALS) and spark_model.fit_info_["engine"] == "spark"
    # Score agreement per user (the factors themselves differ by a rotation: other random start).
    users = np.arange(0, local.n_users, 7)
    scores = [(local.item_factors_ @ local.user_factors_[u], spark_model.item_factors_ @ spark_model.user_factors_[u])
              for u in users]  # fmt: skip
    corr = float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in scores]))
    print(f"NDCG@10 local {ndcg['local']:.4f} spark {ndcg['spark']:.4f} ({ndcg['spark'] / ndcg['local'] - 1:+.2%}); "
          f"mean per-user score correlation {corr:.3f}")  # fmt: skip
    # Same objective, different random start: measured -0.5% at this config, -0.3% at the defaults.
    assert abs(ndcg["spark"] / ndcg["local"] - 1) < 0.03
    assert ndcg["spark"] > 0.4  # most-popular scores 0.25 on this split
    assert corr > 0.9


def test_cli_train_and_evaluate_als_implicit_on_spark(spark, tmp_path: Path) -> None:
    ds = synthetic_dataset(1286, n_users=60, n_items=40, seed=6)  # what 3,000 asked used to give
    csv = tmp_path / "ratings.csv"
    ds.ratings.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(csv)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"models": {"als-implicit": {"n_factors": 4, "n_iter": 3, "negative_below": 2.5}}}))
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--engine", "spark", "--model", "als-implicit", "--spark-master", "local[2]",
                              "--data", str(csv), "--config", str(config), "--out", str(tmp_path / "m"),
                              "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["model"] == "als-implicit" and summary["metrics"]["engine"] == "spark"
    assert summary["config"]["n_factors"] == 4 and summary["config"]["negative_below"] == 2.5
    model = load(tmp_path / "m")
    assert isinstance(model, ImplicitALS) and model.user_factors_.shape == (60, 4)
    assert np.abs(model.user_factors_).sum() > 0
    for user in model.users_.ids.to_list()[:10]:
        rated = set(ds.ratings.filter(ds.ratings["user_id"] == user)["movie_id"].to_list())
        recs = [r.movie_id for r in recommend(model, user, k=5, min_ratings=0)]
        assert len(recs) == 5 and not rated & set(recs)
    res = runner.invoke(app, ["evaluate", "--engine", "spark", "--data", str(csv), "--protocol", "random",
                              "--models", "als-implicit,popular", "--config", str(config), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output.strip().splitlines()[-1])["rows"]
    assert {r["model"] for r in rows} == {"als-implicit", "popular"} and all(np.isfinite(r["ndcg"]) for r in rows)


def test_time_models_on_spark_are_refused_with_the_reason() -> None:
    for model in ("als-time", "bias-time"):
        res = CliRunner().invoke(app, ["train", "--engine", "spark", "--model", model, "--data", "x.csv", "--out", "m"])
        assert res.exit_code == 2 and "cannot train als-time" in res.output and "--engine local" in res.output


def test_non_positive_positive_events_are_refused_before_spark_starts() -> None:
    from movierec.spark import SparkImplicitALS

    ds = small_dataset([(1, 10, 0.0, 1), (1, 11, 4.0, 2), (2, 10, 3.0, 3)], RatingScale(0.0, 5.0, 0.5))
    with pytest.raises(DataValidationError, match=r"1 positive event\(s\) rated <= 0"):
        SparkImplicitALS(ImplicitConfig(n_factors=2, n_iter=1)).fit(ds)
    with pytest.raises(DataValidationError, match="num_blocks must be >= 1, got 0"):
        SparkImplicitALS(num_blocks=0).fit(small_dataset([(1, 10, 1.0, 1), (2, 10, 3.0, 3)]))
