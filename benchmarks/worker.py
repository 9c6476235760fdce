"""One engine, one dataset, one child process: prints one JSON line (see ``common.run_worker``).

Usage: ``python -m benchmarks.worker ENGINE DATA_DIR [--iters N] [--warm]``
with ENGINE one of ``movierec``, ``movierec-model`` (``--model``), ``implicit``, ``spark``, ``lenskit``,
``serving``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import BIAS_REG, ITERS, REG, SEED, K


def _rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.clip(pred, 0.5, 5.0) - truth) ** 2)))


def _dataset(path: Path):  # type: ignore[no-untyped-def]
    import polars as pl

    from movierec.data import Dataset, RatingScale

    frame = pl.read_parquet(path).with_columns(pl.lit(0, dtype=pl.Int64).alias("timestamp"))
    return Dataset.from_frames(frame, None, RatingScale(0.5, 5.0, 0.5), name=str(path))


def movierec(data: Path, iters: int, warm: bool, solver: str = "cholesky") -> dict[str, Any]:
    """Fit (cold: the first fit in this process; warm: a second fit) and test RMSE."""
    import numba
    import polars as pl

    from movierec import ALS, ALSConfig

    t = time.perf_counter()
    train = _dataset(data / "train.parquet")
    load_s = time.perf_counter() - t
    cfg = ALSConfig(n_factors=K, n_iter=iters, reg=REG, bias_reg=BIAS_REG, random_state=SEED, solver=solver)
    # Numba compile (or load from the disk cache) is paid once per process and reported apart:
    # a 2-sweep fit on the first 20,000 ratings runs every kernel path the timed fit takes.
    t = time.perf_counter()
    ALS(ALSConfig(n_factors=K, n_iter=2, reg=REG, bias_reg=BIAS_REG, solver=solver)).fit(_head(train, 20_000))
    compile_s = time.perf_counter() - t
    fits = []
    for _ in range(2 if warm else 1):
        t, c = time.perf_counter(), time.process_time()
        model = ALS(cfg).fit(train)
        fits.append({"fit_s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
                     "iter_s": [h["seconds"] for h in model.history_], "loadavg": os.getloadavg()[0]})
    test = pl.read_parquet(data / "test.parquet")
    pred = model.predict(test["user_id"].to_list(), test["movie_id"].to_list()).rating
    out = {
        "engine": "movierec", "threads": numba.get_num_threads(), "load_s": load_s, "compile_or_cache_load_s": compile_s, "fits": fits,
        "test_rmse": _rmse(pred, test["rating"].to_numpy()), "train_rmse": model.history_[-1]["train_rmse"],
    }  # fmt: skip
    return out


def movierec_model(data: Path, iters: int, model_name: str) -> dict[str, Any]:
    """One whole fit of a movierec model at its defaults (``iters`` sweeps, rank 64 and λ of the run for an
    explicit part), after a 2-sweep fit of the same model on the first 20,000 ratings (compile or cache
    load, reported apart); test RMSE where the model predicts ratings."""
    import polars as pl

    from movierec.models import make_model

    explicit = {"n_factors": K, "n_iter": iters, "reg": REG, "bias_reg": BIAS_REG, "random_state": SEED}
    config = {"als": explicit, "hybrid": {"explicit": explicit}, "als-implicit": {}}[model_name]
    t = time.perf_counter()
    train = _dataset(data / "train.parquet")
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    make_model(model_name, config).fit(_head(train, 20_000))
    compile_s = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    model = make_model(model_name, config).fit(train)
    fit_s, cpu_s = time.perf_counter() - t, time.process_time() - c
    out = {"engine": f"movierec {model_name}", "load_s": load_s, "compile_or_cache_load_s": compile_s, "fit_s": fit_s,
           "cpu_s": cpu_s, "fit_seconds_reported": model.fit_info_["fit_seconds"], "loadavg": os.getloadavg()[0]}  # fmt: skip
    if model.predicts_ratings:
        test = pl.read_parquet(data / "test.parquet")
        pred = model.predict(test["user_id"].to_list(), test["movie_id"].to_list()).rating
        out["test_rmse"] = _rmse(pred, test["rating"].to_numpy())
    return out


def implicit_library(data: Path, iters: int) -> dict[str, Any]:
    """The ``implicit`` library's ALS (its default CG solver, all cores, BLAS on one thread as it asks) at
    movierec ``als-implicit``'s rank and sweeps, through ``common.implicit_library_fit`` (its confidences as values,
    their CSR built before the clock: this favours the library). Its λ is absolute (movierec's is per event): the
    same cost per sweep, not the same objective."""
    import scipy.sparse as sp

    from benchmarks.common import implicit_library_fit
    from movierec.models import ImplicitConfig

    t = time.perf_counter()
    train = _dataset(data / "train.parquet")
    u, i, r = train.arrays()
    cfg, high = ImplicitConfig(), train.scale.high
    ratings = sp.csr_matrix((r, (u, i)), shape=(train.n_users, train.n_items))
    del train, u, i, r
    load_s = time.perf_counter() - t
    _, fit_s, cpu_s = implicit_library_fit(ratings, high, cfg.alpha, cfg.reg, cfg.n_factors, iters)
    return {"engine": "implicit", "load_s": load_s, "iters": iters, "factors": cfg.n_factors, "fit_s": fit_s,
            "cpu_s": cpu_s, "loadavg": os.getloadavg()[0]}  # fmt: skip


def spark(data: Path, iters: int) -> dict[str, Any]:
    """Spark MLlib ALS on local[2]: same rank, λ (regParam, ALS-WR), iterations; no biases (MLlib has none)."""
    from pyspark.ml.recommendation import ALS as SparkALS
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    t = time.perf_counter()
    spark_s = (
        SparkSession.builder.master("local[2]").appName("movierec-bench")
        .config("spark.driver.memory", os.environ.get("BENCH_SPARK_MEMORY", "8g"))
        .config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
        .getOrCreate()
    )  # fmt: skip
    spark_s.sparkContext.setLogLevel("ERROR")
    spark_s.sparkContext.setCheckpointDir("/tmp/movierec-bench/spark-checkpoints")
    cast = lambda df: df.select(F.col("user_id").cast("int"), F.col("movie_id").cast("int"), F.col("rating").cast("float"))  # noqa: E731
    train = cast(spark_s.read.parquet(str(data / "train.parquet"))).cache()
    n_train = train.count()
    startup_s = time.perf_counter() - t
    als = SparkALS(rank=K, maxIter=iters, regParam=REG, userCol="user_id", itemCol="movie_id", ratingCol="rating",
                   seed=SEED, coldStartStrategy="nan", numUserBlocks=4, numItemBlocks=4)  # fmt: skip
    jvm = _jvm_pid(spark_s)
    t, c = time.perf_counter(), time.process_time() + _proc_cpu(jvm)
    model = als.fit(train)
    fit_s, cpu_s = time.perf_counter() - t, time.process_time() + _proc_cpu(jvm) - c
    mu = float(train.agg(F.avg("rating")).first()[0])
    test = cast(spark_s.read.parquet(str(data / "test.parquet")))
    pred = model.transform(test).select("rating", "prediction").toPandas()
    p = pred["prediction"].to_numpy(dtype=np.float64)
    p[~np.isfinite(p)] = mu  # unknown user or film: the global mean (MLlib gives NaN)
    spark_s.stop()
    return {"engine": "spark", "master": "local[2]", "startup_s": startup_s, "n_train": n_train, "iters": iters,
            "fit_s": fit_s, "cpu_s": cpu_s, "loadavg": os.getloadavg()[0], "test_rmse": _rmse(p, pred["rating"].to_numpy())}  # fmt: skip


def _jvm_pid(spark_s: Any) -> int | None:
    try:
        return int(spark_s.sparkContext._gateway.proc.pid)
    except AttributeError:  # pragma: no cover - gateway not launched by us
        return None


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its threads (the JVM)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lenskit(data: Path, iters: int) -> dict[str, Any]:
    """LensKit BiasedMF (ALS): same rank, λ (scaled by n, ALS-WR), iterations; its biases are damped means (damping 0)."""
    import lenskit.parallel
    import pandas as pd
    from lenskit.als import BiasedMFConfig, BiasedMFScorer
    from lenskit.data import from_interactions_df

    threads = int(os.environ.get("MOVIEREC_THREADS", os.cpu_count() or 1))
    lenskit.parallel.initialize(processes=1, threads=threads, backend_threads=threads)
    t = time.perf_counter()
    df = pd.read_parquet(data / "train.parquet")
    ds = from_interactions_df(df, user_col="user_id", item_col="movie_id", rating_col="rating")
    load_s = time.perf_counter() - t
    scorer = BiasedMFScorer(BiasedMFConfig(embedding_size=K, epochs=iters, regularization=REG, damping=0.0))
    t, c = time.perf_counter(), time.process_time()
    scorer.train(ds)
    fit_s, cpu_s = time.perf_counter() - t, time.process_time() - c
    test = pd.read_parquet(data / "test.parquet")
    u = scorer.users.numbers(test["user_id"].to_numpy(), missing="negative")
    i = scorer.items.numbers(test["movie_id"].to_numpy(), missing="negative")
    bias = scorer.bias
    pred = np.full(len(test), bias.global_bias, dtype=np.float64)
    if bias.user_biases is not None:
        pred[u >= 0] += bias.user_biases[u[u >= 0]]
    if bias.item_biases is not None:
        pred[i >= 0] += bias.item_biases[i[i >= 0]]
    both = (u >= 0) & (i >= 0)
    pred[both] += np.einsum("ij,ij->i", scorer.user_embeddings[u[both]], scorer.item_embeddings[i[both]])
    return {"engine": "lenskit", "threads": threads, "load_s": load_s, "iters": iters, "fit_s": fit_s, "cpu_s": cpu_s,
            "loadavg": os.getloadavg()[0], "test_rmse": _rmse(pred, test["rating"].to_numpy())}  # fmt: skip


def _head(dataset: Any, n: int) -> Any:
    from movierec.data import Dataset

    return Dataset.from_frames(dataset.ratings.head(n), None, dataset.scale, name="warm-up")


def _ms(seconds: list[float]) -> dict[str, float]:
    """Median and 95th percentile in milliseconds."""
    return {"median": 1e3 * float(np.median(seconds)), "p95": 1e3 * float(np.percentile(seconds, 95))}


def serving(data: Path, iters: int) -> dict[str, Any]:
    """Train, then: batch top-10 for all users, one known user's top-10 latency, fold-in latency."""
    import tempfile

    import numba

    from movierec import ALS, ALSConfig, recommend
    from movierec.ranking.batch import write_recommendations

    train = _dataset(data / "train.parquet")
    model = ALS(ALSConfig(n_factors=K, n_iter=iters, reg=REG, bias_reg=BIAS_REG, random_state=SEED)).fit(train)
    del train
    out: dict[str, Any] = {"engine": "serving", "threads": numba.get_num_threads(), "n_users": model.n_users,
                           "n_items": model.n_items, "min_ratings": model.policy.min_ratings}  # fmt: skip
    rng = np.random.default_rng(SEED)
    users = rng.choice(model.users_.ids.to_numpy(), 200, replace=False)
    # online: one known user's top-10 through `recommend` (scores, guard, exclusion, top-k, records), median of 180
    lat = []
    for u in users:
        t = time.perf_counter()
        recommend(model, int(u), k=10)
        lat.append(time.perf_counter() - t)
    out["online_top10_ms"] = _ms(lat[20:])
    # fold-in of a 100-rating user (ratings drawn from the training scale)
    fold = []
    items = model.items_.ids.to_numpy()
    for _ in range(200):
        pick = rng.choice(items, 100, replace=False)
        vals = rng.integers(1, 11, 100) / 2.0
        t = time.perf_counter()
        model.fold_in(pick, vals)
        fold.append(time.perf_counter() - t)
    out["fold_in_100_ms"] = _ms(fold[20:])
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        for rep in range(2):  # the first run compiles (or loads) the selection kernel
            t = time.perf_counter()
            rows = write_recommendations(model, Path(tmp) / "recs.parquet", k=10)
            out[f"batch_top10_s_run{rep + 1}"] = time.perf_counter() - t
        out["batch_rows"] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("engine", choices=["movierec", "movierec-model", "implicit", "spark", "lenskit", "serving"])
    p.add_argument("data", type=Path)
    p.add_argument("--iters", type=int, default=ITERS)
    p.add_argument("--warm", action="store_true")
    p.add_argument("--solver", default="cholesky", help="movierec: ALSConfig.solver")
    p.add_argument("--model", default="hybrid", help="movierec-model: als, hybrid or als-implicit")
    a = p.parse_args()
    if a.engine == "movierec":
        res = movierec(a.data, a.iters, a.warm, a.solver)
    elif a.engine == "movierec-model":
        res = movierec_model(a.data, a.iters, a.model)
    elif a.engine == "implicit":
        res = implicit_library(a.data, a.iters)
    else:
        res = {"spark": spark, "lenskit": lenskit, "serving": serving}[a.engine](a.data, a.iters)
    print(json.dumps(res, default=float))


if __name__ == "__main__":
    main()
