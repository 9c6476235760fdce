"""Fit time against the number of ratings: movierec's default and `als` beside LensKit, `implicit` and Spark.

Usage::

    python -m benchmarks.scaling [--sizes synth-1m synth-5m synth-25m synth-100m] [--out-name scaling]
    python -m benchmarks.scaling --sizes synth-25m --factors 32 --engines "movierec als" LensKit --out-name scaling-rank32

Synthetic ML-25M-shaped ratings (``synthetic_ratings(n, seed=0)``, seeded random 90/10 split,
``benchmarks.common.prepare``); every engine in its own child process (``benchmarks.worker``), one
after another in one run, so the times compare within the run. Each fit is whole: movierec's
``fit`` from the loaded dataset to the fitted model (the default: explicit ALS, implicit ALS, EASE,
its low-rank form), after a small fit of the same model that compiles or loads the kernels
(reported apart). Engines and settings:

- movierec ``hybrid`` (the default; its explicit part rank 64 × 10 sweeps at the run's λ, the rest
  at its defaults), ``als`` (rank 64 × 10), ``als-implicit`` (its defaults: rank 64 × 15, CG);
- LensKit ``BiasedMF`` ALS, rank 64 × 10, same λ (``benchmarks.worker lenskit``);
- the ``implicit`` library's ALS, rank 64 × 15, its CG solver (against ``als-implicit``);
- Spark MLlib ALS ``local[2]``, rank 64 × 10; from ``SPARK_ITERS_FROM`` ratings on it runs
  ``--spark-iters`` sweeps and its 10-sweep time is that fit's × 10 / sweeps (marked
  ``extrapolated``: an upper bound, the fit's one-off partitioning counted that many times; its
  test RMSE is the short fit's); above ``SPARK_MAX`` it is not run (hours per fit on 2 cores).

Peak RSS is the worker's process tree (the data included). Raw JSON: ``benchmarks/results/NAME.json``;
``python -m benchmarks.plots`` draws ``fit-time-scaling.png`` from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks.common import ITERS, ROOT, SCRATCH, gemm_gflops, machine, run_worker, save

SIZES = ["synth-1m", "synth-5m", "synth-25m", "synth-100m"]
SPARK_ITERS_FROM = 20_000_000
SPARK_MAX = 30_000_000
ENGINES: dict[str, list[str]] = {
    "movierec default (hybrid)": ["movierec-model", "--model", "hybrid", "--iters", str(ITERS)],
    "movierec als": ["movierec-model", "--model", "als", "--iters", str(ITERS)],
    "movierec als-implicit": ["movierec-model", "--model", "als-implicit"],  # its own 15 sweeps
    "implicit": ["implicit", "--iters", "15"],
    "LensKit": ["lenskit", "--iters", str(ITERS)],
}


def _prepare(name: str) -> dict[str, Any]:
    """``prepare`` in a child process, so the generator's memory is not held by this driver."""
    code = f"import json; from benchmarks.common import prepare; print(json.dumps(prepare({name!r})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_size(name: str, spark_iters: int, engines: list[str], factors: int) -> dict[str, Any]:
    meta = _prepare(name)
    data = str(SCRATCH / name)
    env = {"MOVIEREC_BENCH_FACTORS": str(factors)}  # benchmarks.common.K in the workers
    res: dict[str, Any] = {"data": meta, "factors": factors, "gemm_gflops_before": gemm_gflops(), "engines": {}}
    for label, args in ENGINES.items():
        if label not in engines:
            continue
        res["engines"][label] = run_worker([args[0], data, *args[1:]], env=env, timeout=7200)
        print(name, label, {k: res["engines"][label].get(k) for k in ("fit_s", "peak_rss_gb", "error")}, flush=True)
    n = meta["n_train"]
    if n <= SPARK_MAX and "Spark local[2]" in engines:
        iters = spark_iters if n >= SPARK_ITERS_FROM else ITERS
        spark = run_worker(["spark", data, "--iters", str(iters)], env=env, timeout=7200)
        if "fit_s" in spark and iters != ITERS:  # test_rmse stays the measured fit's (``iters`` sweeps)
            spark |= {"fit_s_measured": spark["fit_s"], "fit_s": spark["fit_s"] * ITERS / iters,
                      "cpu_s_measured": spark["cpu_s"], "cpu_s": spark["cpu_s"] * ITERS / iters, "extrapolated": True}  # fmt: skip
        res["engines"]["Spark local[2]"] = spark
        print(name, "Spark", {k: spark.get(k) for k in ("fit_s", "peak_rss_gb", "error")}, flush=True)
    res["gemm_gflops_after"] = gemm_gflops()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=SIZES)
    parser.add_argument("--spark-iters", type=int, default=2)
    parser.add_argument("--engines", nargs="+", default=[*ENGINES, "Spark local[2]"])
    parser.add_argument("--factors", type=int, default=64, help="rank of the explicit engines (implicit ones stay at 64)")
    parser.add_argument("--out-name", default="scaling")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "iters": ITERS, "factors": args.factors, "sizes": {}}
    for name in args.sizes:
        result["sizes"][name] = run_size(name, args.spark_iters, args.engines, args.factors)
        save(args.out_name, result)  # after each size: a late failure keeps the earlier ones


if __name__ == "__main__":
    main()
