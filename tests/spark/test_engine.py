"""Spark engine: reading and cleaning (latest re-rating wins), ids of any type, errors, checkpointing, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from movierec import ALSConfig, BackendUnavailableError, DataValidationError, load
from movierec.cli.main import app
from movierec.data import save_dataset_folder, synthetic_dataset
from tests.spark.conftest import SPARK_MARKS

pytestmark = SPARK_MARKS



def test_missing_pyspark_is_a_clear_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from movierec.spark import session

    monkeypatch.setattr(session, "_IMPORT_ERROR", ImportError("No module named 'pyspark'"))
    with pytest.raises(BackendUnavailableError, match=r"pip install 'movierec\[spark\]'"):
        session.spark_session("local[1]")
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--model", "als", "--data", "x.csv", "--out", "m"])
    assert result.exit_code == 6, result.output


def test_parse_conf() -> None:
    from movierec.spark import parse_conf

    assert parse_conf(["spark.executor.memory=8g", "a.b = c=d"]) == {"spark.executor.memory": "8g", "a.b": "c=d"}
    with pytest.raises(DataValidationError, match="KEY=VALUE"):
        parse_conf(["spark.executor.memory"])


def test_duplicates_latest_timestamp_wins(spark, tmp_path: Path) -> None:
    from movierec.spark import read_ratings

    csv = tmp_path / "ratings.csv"
    csv.write_text("userId,movieId,rating,timestamp\n1,10,2.0,1000000000\n1,10,4.5,1000000500\n2,10,3.0,1000000100\n"
                   "1,20,3.0,1000000000\n2,20,1.0,1000000000\n2,20,2.0,1000000000\n")  # fmt: skip
    frame, ds, report = read_ratings(spark, str(csv))
    rows = {(u, m): r for u, m, r in ds.ratings.select("user_id", "movie_id", "rating").iter_rows()}
    assert rows[(1, 10)] == 4.5 and len(rows) == 4  # never the sum 6.5, never the first 2.0
    assert rows[(2, 20)] == 2.0  # equal timestamps: the later row wins
    assert report == {"n_rows_read": 6, "duplicates_resolved": 2}
    # The cluster-side frame that training reads holds exactly the same rows.
    assert frame is not None and sorted(map(tuple, frame.select("user_id", "movie_id", "rating").collect())) == sorted(
        (u, m, r) for (u, m), r in rows.items()
    )


def test_string_and_huge_ids_map_to_dense_positions_and_back(spark, tmp_path: Path) -> None:
    from movierec.spark import train_spark

    ratings = synthetic_dataset(3000, n_users=60, n_items=40, seed=3).ratings
    ratings = ratings.with_columns(
        ("u-" + pl.col("user_id").cast(pl.Utf8)).alias("user_id"), (pl.col("movie_id") * 10**12).alias("movie_id")
    )
    path = tmp_path / "r.parquet"
    ratings.write_parquet(path)
    model, ds = train_spark(str(path), ALSConfig(n_factors=2, n_iter=1), bias_sweeps=1)
    assert model.users_.ids.dtype == pl.Utf8 and model.items_.ids.dtype == pl.Int64
    assert model.n_users == 60 and model.n_items == ds.n_items
    row = ratings.row(0, named=True)
    u, i = model.users_.index(row["user_id"]), model.items_.index(row["movie_id"])
    assert model.user_items_[u, i] == pytest.approx(row["rating"])
    model_dir = tmp_path / "m"
    from movierec import save

    save(model, model_dir)
    again = load(model_dir)
    p1 = model.predict([row["user_id"]], [row["movie_id"]]).raw
    assert np.array_equal(again.predict([row["user_id"]], [row["movie_id"]]).raw, p1)


def test_dataset_folder_gives_the_same_training_set_as_the_core(spark, tmp_path: Path) -> None:
    from movierec.spark import read_ratings

    ds = synthetic_dataset(2000, n_users=50, n_items=30, seed=4)
    folder = save_dataset_folder(ds, tmp_path / "ds")
    _, spark_ds, _ = read_ratings(spark, str(folder))
    assert spark_ds.fingerprint() == ds.fingerprint()
    assert spark_ds.scale == ds.scale and spark_ds.movies.height == ds.movies.height


def test_bad_values_are_refused_with_counts(spark, tmp_path: Path) -> None:
    from movierec.spark import read_ratings

    csv = tmp_path / "bad.csv"
    csv.write_text("userId,movieId,rating,timestamp\n1,10,abc,1\n1,11,7.0,2\n2,10,3.0,3\n,12,3.0,4\n")
    with pytest.raises(DataValidationError) as err:
        read_ratings(spark, str(csv))
    msg = str(err.value)
    assert "1 row(s) with missing or non-numeric rating" in msg and "1 row(s) with rating outside" in msg
    assert "missing user or movie id" in msg
    no_col = tmp_path / "nocol.csv"
    no_col.write_text("user,movieId,rating\n1,2,3.0\n")
    with pytest.raises(DataValidationError, match="missing column"):
        read_ratings(spark, str(no_col))


def test_long_runs_checkpoint(spark) -> None:
    from movierec.spark import SparkALS

    ds = synthetic_dataset(4000, n_users=80, n_items=50, seed=5)
    # 40 sweeps: checkpointInterval=10 fires 4 times (100 sweeps on 100k ratings, where lineage
    # without checkpoints overflows the stack, run in benchmarks/spark_vs_local.py --long-lineage).
    model = SparkALS(ALSConfig(n_factors=2, n_iter=40), bias_sweeps=1).fit(ds)
    ckpt = model.fit_info_["checkpoint_dir"]
    # The engine set a checkpoint directory itself, and Spark really wrote RDD checkpoints there.
    assert ckpt and ckpt == spark.sparkContext.getCheckpointDir()
    assert list(Path(ckpt.removeprefix("file:")).glob("rdd-*"))
    assert np.isfinite(model.user_factors_).all() and model.fit_info_["train_rmse"] < 1.0


def test_cli_train_and_evaluate_with_spark(spark, tmp_path: Path) -> None:
    ds = synthetic_dataset(3000, n_users=60, n_items=40, seed=6)
    csv = tmp_path / "ratings.csv"
    ds.ratings.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(csv)
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--engine", "spark", "--model", "als", "--spark-master", "local[2]", "--spark-conf",
                              "spark.sql.shuffle.partitions=2", "--data", str(csv), "--out", str(tmp_path / "m"),
                              "--factors", "4", "--iterations", "2", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["metrics"]["engine"] == "spark" and summary["data"]["n_ratings"] == ds.n_ratings
    assert load(tmp_path / "m").n_users == 60
    res = runner.invoke(app, ["evaluate", "--engine", "spark", "--data", str(csv), "--protocol", "random",
                              "--models", "als,bias", "--config", str(_config(tmp_path)), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output.strip().splitlines()[-1])["rows"]
    assert {r["model"] for r in rows} == {"als", "bias"} and all(np.isfinite(r["rmse"]) for r in rows)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": {"als": {"n_factors": 4, "n_iter": 2}}}))
    return path


def test_bad_engine_options_are_refused_before_spark_starts() -> None:
    from movierec.spark import SparkALS

    ds = synthetic_dataset(200, n_users=10, n_items=8, seed=1)
    with pytest.raises(DataValidationError, match="bias_sweeps"):
        SparkALS(bias_sweeps=0).fit(ds)


@pytest.mark.realdata
def test_movielens_folder_read_on_spark_equals_the_core_loader(spark, data_home: Path) -> None:
    from movierec import load_movielens
    from movierec.spark import read_ratings

    frame, spark_ds, report = read_ratings(spark, str(data_home / "ml-latest-small"))
    core = load_movielens(data_home / "ml-latest-small")
    assert frame is not None and report["duplicates_resolved"] == 0
    assert spark_ds.fingerprint() == core.fingerprint()  # same rows, ids, ratings and timestamps
    assert spark_ds.movies.equals(core.movies) and spark_ds.scale == core.scale
