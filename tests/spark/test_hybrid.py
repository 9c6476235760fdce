"""The default model on Spark: ``hybrid`` trained on Spark ranks as well as the local one; mixed-width Parquet parts train."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from movierec import load, recommend
from movierec.cli.main import app
from movierec.evaluation.protocols import EvalOptions, SplitOptions, run_protocol
from movierec.models import Hybrid, HybridConfig, make_model
from tests.spark.conftest import SPARK_MARKS

pytestmark = SPARK_MARKS


@pytest.mark.realdata
def test_hybrid_trained_on_spark_ranks_within_one_percent_of_local(spark, data_home: Path) -> None:
    from movierec.spark import spark_model

    # The default config, with Spark's exact implicit solver on both sides (the local default is CG).
    default = HybridConfig()
    config = dataclasses.replace(default, implicit=dataclasses.replace(default.implicit, solver="cholesky"))
    fitted: dict[str, Hybrid] = {}

    def build(name: str) -> Hybrid:
        fitted[name] = spark_model(config) if name == "spark" else Hybrid(config)  # type: ignore[assignment]
        return fitted[name]

    result = run_protocol(str(data_home / "ml-100k"), "stratified", ["local", "spark"],
                          split_options=SplitOptions(seed=42), options=EvalOptions(k=10), factory=build)  # fmt: skip
    ndcg = {r["model"]: r["ndcg"] for r in result.rows}
    print(f"hybrid NDCG@10 local {ndcg['local']:.4f} spark {ndcg['spark']:.4f} ({ndcg['spark'] / ndcg['local'] - 1:+.2%})")
    assert fitted["spark"].explicit.fit_info_["engine"] == "spark" and fitted["spark"].implicit.fit_info_["engine"] == "spark"
    assert abs(ndcg["spark"] / ndcg["local"] - 1) < 0.01


def test_cli_trains_the_default_model_on_spark_into_the_same_folder(spark, tmp_path: Path) -> None:
    from movierec.data import synthetic_dataset

    ds = synthetic_dataset(1286, n_users=60, n_items=40, seed=6)  # what 3,000 asked used to give
    csv = tmp_path / "ratings.csv"
    ds.ratings.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(csv)
    res = CliRunner().invoke(app, ["train", "--engine", "spark", "--spark-master", "local[2]", "--data", str(csv),
                                   "--out", str(tmp_path / "m"), "--factors", "4", "--iterations", "2", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    model = load(tmp_path / "m")
    assert isinstance(model, Hybrid) and model.explicit.config.n_factors == 4
    assert model.fit_info_["engine"] == "spark" and model.policy.min_ratings == 5
    local = make_model("hybrid", model.config_dict()).fit(ds)
    for user in ds.users.ids.to_list()[:5]:  # a Spark-trained folder serves like any other
        assert len(recommend(model, user, k=5)) == len(recommend(local, user, k=5)) == 5


def test_parquet_parts_of_different_integer_widths_train_on_spark(spark, tmp_path: Path) -> None:
    """Part files written by different tools (int32/float32 in one, int64/float64 in the other) load as one:
    Spark otherwise reads every part with the first part's schema and dies mid-job (apache/spark#34308)."""
    from movierec.spark import train_spark

    parts = tmp_path / "parts"
    parts.mkdir()
    narrow = {"userId": pa.int32(), "movieId": pa.int32(), "rating": pa.float32(), "timestamp": pa.int32()}
    wide = {name: pa.int64() if name != "rating" else pa.float64() for name in narrow}
    rows = [[(1, 10, 4.0, 1), (1, 20, 3.5, 2), (2, 10, 5.0, 3)], [(2, 30, 2.0, 4), (3, 20, 4.5, 5), (3, 30, 1.0, 6)]]
    for n, (types, part) in enumerate(zip((narrow, wide), rows, strict=True)):
        table = pa.table({name: pa.array([r[j] for r in part], t) for j, (name, t) in enumerate(types.items())})
        pq.write_table(table, parts / f"part-0000{n}.parquet")
    from movierec.models.als import ALSConfig

    model, dataset = train_spark(str(parts), ALSConfig(n_factors=2, n_iter=1), bias_sweeps=1)
    assert dataset.n_ratings == 6 and sorted(dataset.users.ids.to_list()) == [1, 2, 3]
    assert np.isfinite(model.user_factors_).all()
