"""Speed of the model users get, against its peers, as ratios measured in one run.

Usage::

    python -m benchmarks.speed train      [--ratings 2000000]      # whole `movierec train` processes vs Spark local[2]
    python -m benchmarks.speed implicit   [--ratings 2000000]      # implicit ALS half-steps vs the `implicit` library

Every figure is paired with a float32 GEMM rate measured in the same run (``gemm_gflops``), and the load
average is recorded beside it (the VM's CPU and neighbours change between runs). Data:
``movierec data synth --n-ratings N --seed 7`` written once to the scratch folder. Engines run in child
processes (``benchmarks.common``), so each figure is a whole process or a whole fit as named. Raw JSON
goes to ``benchmarks/results/speed-<part>.json``. Public names only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, SCRATCH, gemm_gflops, machine, save

MOVIEREC = [sys.executable, "-m", "movierec"]


def synth(n: int) -> Path:
    """``movierec data synth --n-ratings n --seed 7`` as CSV, written once."""
    path = SCRATCH / f"synth-csv-{n}" / "ratings.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*MOVIEREC, "data", "synth", "--n-ratings", str(n), "--seed", "7", "--out", str(path)], check=True)
    return path


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=7200)
    out: dict[str, Any] = {"wall_s": time.perf_counter() - t0, "load": os.getloadavg()[0]}
    if proc.returncode != 0:
        out["error"] = proc.stderr.strip().splitlines()[-3:]
    else:
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
        try:
            out["json"] = json.loads(last)
        except json.JSONDecodeError:
            pass
    return out


def train_part(n: int, repeats: int) -> dict[str, Any]:
    """Whole `movierec train` processes (default, als, als-implicit) and a whole Spark MLlib process, interleaved."""
    data = synth(n)
    opts = ["--factors", "64", "--iterations", "10", "--reg", "0.05"]
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeats):
        for name, cmd in (
            ("movierec default (hybrid)", [*MOVIEREC, "train", "--data", str(data), "--out", str(SCRATCH / "m-default"), *opts, "--json"]),
            ("movierec als", [*MOVIEREC, "train", "--data", str(data), "--model", "als", "--out", str(SCRATCH / "m-als"), *opts, "--json"]),
            ("movierec als-implicit", [*MOVIEREC, "train", "--data", str(data), "--model", "als-implicit", "--out", str(SCRATCH / "m-imp"), "--json"]),
            ("spark mllib als local[2]", [sys.executable, "-m", "benchmarks.speed", "spark-process", str(data)]),
        ):  # fmt: skip
            r = _timed(cmd)
            r["gemm_gflops"] = gemm_gflops()
            if "json" in r and "metrics" in r["json"]:
                r["fit_seconds"] = r["json"]["metrics"].get("fit_seconds")
                del r["json"]
            runs.setdefault(name, []).append(r)
    best = {name: min(x["wall_s"] for x in rs if "error" not in x) for name, rs in runs.items() if any("error" not in x for x in rs)}
    spark = best.get("spark mllib als local[2]")
    ratios = {name: spark / s for name, s in best.items() if spark and not name.startswith("spark")}
    return {"data": str(data), "n_asked": n, "repeats": repeats, "runs": runs, "best_wall_s": best, "spark_over_movierec": ratios}


def spark_process(data: Path) -> None:
    """A whole Spark MLlib ALS job as a user would run it: start local[2], read the CSV, fit rank 64 × 10."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master("local[2]").appName("bench").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").config("spark.sql.shuffle.partitions", "8").getOrCreate())  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(SCRATCH / "spark-ckpt"))
    df = spark.read.option("header", True).csv(str(data))
    df = df.select(F.col("userId").cast("int").alias("u"), F.col("movieId").cast("int").alias("i"), F.col("rating").cast("float").alias("r"))
    t0 = time.perf_counter()
    ALS(rank=64, maxIter=10, regParam=0.05, userCol="u", itemCol="i", ratingCol="r", seed=42).fit(df)
    print(json.dumps({"metrics": {"fit_seconds": time.perf_counter() - t0}}))
    spark.stop()


def implicit_part(n: int, repeats: int) -> dict[str, Any]:
    """Implicit ALS fits, one thread each, CPU seconds: movierec (CG and exact) vs the `implicit` library (CG and exact).

    Same data (every rating an event), rank 64, 15 sweeps, 3 CG steps. Quality at these settings on
    ml-100k's recommenders-stratified split is reported by ``benchmarks.ranking``.
    """
    import numpy as np
    import polars as pl
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    os.environ["MOVIEREC_THREADS"] = "1"  # read at the first kernel call
    from movierec.data import Dataset, RatingScale
    from movierec.models import ImplicitALS, ImplicitConfig

    frame = pl.read_csv(synth(n)).rename({"userId": "user_id", "movieId": "movie_id"})
    ds = Dataset.from_frames(frame, None, RatingScale(0.5, 5.0, 0.5))
    u, i, r = ds.arrays()
    events = sp.csr_matrix((np.ones_like(r), (u, i)), shape=(ds.n_users, ds.n_items), dtype=np.float32)
    ImplicitALS(ImplicitConfig(n_factors=64, n_iter=1)).fit(ds)  # compiled before the clock
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        AlternatingLeastSquares = None  # noqa: N806
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name in ("movierec cg", "implicit cg", "movierec exact", "implicit exact"):
            if name.startswith("implicit") and AlternatingLeastSquares is None:
                continue
            t0 = time.process_time()
            if name.startswith("movierec"):
                ImplicitALS(ImplicitConfig(n_factors=64, n_iter=15, solver="cg" if name.endswith("cg") else "cholesky")).fit(ds)
            else:
                with threadpool_limits(1, "blas"):
                    AlternatingLeastSquares(factors=64, iterations=15, use_cg=name.endswith("cg"), num_threads=1,
                                            random_state=0).fit(events, show_progress=False)  # fmt: skip
            runs.setdefault(name, []).append(time.process_time() - t0)
    best = {k: min(v) for k, v in runs.items()}
    per_half_step = {k: v / 30 for k, v in best.items()}
    return {"n_ratings": ds.n_ratings, "n_users": ds.n_users, "n_items": ds.n_items, "threads": 1, "cpu_seconds": runs,
            "best_cpu_seconds": best, "cpu_seconds_per_half_step": per_half_step, "gemm_gflops": gemm_gflops(),
            "load": os.getloadavg()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["train", "implicit", "spark-process"])
    parser.add_argument("data", nargs="?")
    parser.add_argument("--ratings", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.part == "spark-process":
        spark_process(Path(args.data))
        return
    result = {"train": train_part, "implicit": implicit_part}[args.part](args.ratings, args.repeats)
    path = save(f"speed-{args.part}", {"machine": machine(), **result})
    print(json.dumps({k: v for k, v in result.items() if k in ("best_wall_s", "spark_over_movierec", "best_cpu_seconds")}, indent=1))
    print(path)


if __name__ == "__main__":
    main()
