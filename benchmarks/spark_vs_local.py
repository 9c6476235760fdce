"""Spark (local mode) vs the local engine: same data, same config, same objective and λ convention.

Measures fit time (and the ratio Spark / local), test RMSE of both engines and the
relative difference, the mean top-10 overlap of the two engines' lists (guarded,
rated films excluded) over every training user, and the driver's peak RSS. Options
add the long-lineage check (100 sweeps on ml-100k's 100k ratings, checkpointing on) and the recommend-all check
(recommend-all for 50,000 users x 20,000 films at rank 10 on Spark).

Usage::

    MOVIEREC_DATA_HOME=../shared/data .venv/bin/python benchmarks/spark_vs_local.py \
        [--master local[2]] [--factors 64 --iterations 10] [--long-lineage] [--recommend-all] [--json out.json]

Results are recorded in benchmarks/README.md, section "Spark engine against the local engine".
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from movierec import ALS, ALSConfig, Dataset, load_movielens, recommend, save
from movierec.data.home import data_home


def rmse(model: ALS, test: Dataset) -> float:
    p = model.predict(test.ratings["user_id"].to_list(), test.ratings["movie_id"].to_list())
    return float(np.sqrt(np.mean((p.rating - test.ratings["rating"].to_numpy()) ** 2)))


def overlap(a: ALS, b: ALS, users: list) -> float:
    shares = [len({r.movie_id for r in recommend(a, u)} & {r.movie_id for r in recommend(b, u)}) / 10 for u in users]
    return float(np.mean(shares))


def splits(home: Path, seed: int) -> dict[str, tuple[Dataset, Dataset]]:
    ml = load_movielens(home / "ml-latest-small")
    held = np.random.default_rng(seed).random(ml.n_ratings) < 0.2
    return {
        "ml-100k u1": (load_movielens(home / "ml-100k" / "u1.base"), load_movielens(home / "ml-100k" / "u1.test")),
        "ml-latest-small 80/20": (ml.subset(~held), ml.subset(held)),
    }


def compare(name: str, train: Dataset, test: Dataset, cfg: ALSConfig, master: str) -> dict:
    from movierec.spark import SparkALS

    ALS(ALSConfig(n_factors=2, n_iter=1)).fit(train)  # compile the Numba kernels outside the timing
    SparkALS(ALSConfig(n_factors=2, n_iter=1), master=master).fit(train)  # warm the JVM (JIT, codegen) likewise
    t0 = time.perf_counter()
    local = ALS(cfg).fit(train)
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    spark = SparkALS(cfg, master=master).fit(train)
    t_spark = time.perf_counter() - t0
    r_local, r_spark = rmse(local, test), rmse(spark, test)
    row = {
        "data": name, "n_ratings": train.n_ratings, "local_fit_s": round(t_local, 2), "spark_fit_s": round(t_spark, 2),
        "ratio_spark_over_local": round(t_spark / t_local, 1), "rmse_local": round(r_local, 4),
        "rmse_spark": round(r_spark, 4), "rmse_rel_diff": round(r_spark / r_local - 1, 4),
        "top10_overlap": round(overlap(local, spark, train.users.ids.to_list()), 3),
        "train_rmse_local": round(local.fit_info_["train_rmse"], 4),
        "train_rmse_spark": round(spark.fit_info_["train_rmse"], 4),
    }  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def long_lineage(home: Path, master: str) -> dict:
    from movierec.spark import SparkALS

    ds = load_movielens(home / "ml-100k")
    t0 = time.perf_counter()
    model = SparkALS(ALSConfig(n_factors=10, n_iter=100), master=master).fit(ds)
    row = {"check": "100 sweeps with checkpoints (no stack overflow)", "n_ratings": ds.n_ratings, "n_iter": 100, "seconds": round(time.perf_counter() - t0, 1),
           "checkpoint_dir": model.fit_info_["checkpoint_dir"],
           "train_rmse": round(model.fit_info_["train_rmse"], 4)}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def recommend_all(master: str) -> dict:
    import polars as pl

    from movierec.data import synthetic_dataset
    from movierec.spark import recommend_all_spark

    # 50,000 users x 20,000 films (about 20 ratings a user), rank 10, one sweep: ranking at scale, not quality.
    data = synthetic_dataset(1_000_000, n_users=50_000, n_items=20_000, seed=21)
    model = ALS(ALSConfig(n_factors=10, n_iter=1)).fit(data)
    with tempfile.TemporaryDirectory() as tmp:
        save(model, Path(tmp) / "m")
        t0 = time.perf_counter()
        rows = recommend_all_spark(Path(tmp) / "m", str(Path(tmp) / "out"), k=10, spark_master=master)
        seconds = time.perf_counter() - t0
        out = pl.read_parquet(str(Path(tmp) / "out" / "*.parquet"))
        ids = model.users_.ids.to_list()
        sample = [ids[0], ids[4_320], ids[len(ids) // 2], ids[-1]]
        same = all(out.filter(pl.col("user_id") == u).sort("rank")["movie_id"].to_list()
                   == [r.movie_id for r in recommend(model, u, k=10)] for u in sample)  # fmt: skip
    row = {"check": "recommend-all on executors", "n_users": model.n_users, "n_items": model.n_items, "n_factors": 10, "k": 10, "rows": rows,
           "seconds": round(seconds, 1), "sample_equals_brute_force": same}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--factors", type=int, default=ALSConfig.n_factors)
    ap.add_argument("--iterations", type=int, default=ALSConfig.n_iter)
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--long-lineage", action="store_true", help="100 sweeps on ml-100k: checkpoints cut the lineage")
    ap.add_argument("--recommend-all", action="store_true", help="rank every user on the executors")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import pyspark

    from movierec.spark import spark_session

    t0 = time.perf_counter()
    spark_session(args.master, {"spark.ui.enabled": "false"})
    startup = time.perf_counter() - t0
    cfg = ALSConfig(n_factors=args.factors, n_iter=args.iterations)
    home = data_home()
    report: dict = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "pyspark": pyspark.__version__,
                    "numpy": np.__version__, "master": args.master},
        "config": cfg.to_dict(), "spark_startup_s": round(startup, 1),
        "parity": [compare(n, tr, te, cfg, args.master) for n, (tr, te) in splits(home, args.seed).items()],
    }  # fmt: skip
    if args.long_lineage:
        report["long_lineage"] = long_lineage(home, args.master)
    if args.recommend_all:
        report["recommend_all"] = recommend_all(args.master)
    report["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("spark_startup_s", "driver_peak_rss_mb")}))


if __name__ == "__main__":
    main()
