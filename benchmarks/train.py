"""Issue 2's benchmark: ALS training time (cold with JIT, from the disk cache, warm), peak RSS, test RMSE.

Usage: ``python -m benchmarks.train [--data ml-100k ml-latest-small synth-5m]``

Rank 64, 10 iterations, λ = 0.12 (ALS-WR), λ_b = 0.02. For each dataset two
child processes run: the first with an empty Numba cache folder (its first fit
includes JIT compilation: "cold"), the second with that folder filled (its
first fit loads the kernels from disk: "cached"), and fits a second time in
the same process ("warm"). Raw JSON goes to ``benchmarks/results/train.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from benchmarks.common import machine, prepare, run_worker, save


def bench(name: str) -> dict:
    meta = prepare(name)
    data = str(prepare.__globals__["SCRATCH"] / name)
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = run_worker(["movierec", data], env=env)
        cached = run_worker(["movierec", data, "--warm"], env=env)
    res = {"data": meta, "cold": cold, "cached": cached}
    if "error" not in cold and "error" not in cached:
        warm_fit = cached["fits"][1]
        res["summary"] = {
            "cold_fit_s": cold["fits"][0]["fit_s"],
            "cached_first_fit_s": cached["fits"][0]["fit_s"],
            "warm_fit_s": warm_fit["fit_s"],
            "warm_fit_cpu_s": warm_fit["cpu_s"],
            "cold_fit_cpu_s": cold["fits"][0]["cpu_s"],
            "loadavg": warm_fit["loadavg"],
            "warm_iter_median_s": statistics.median(warm_fit["iter_s"]),
            "jit_compile_s": cold["fits"][0]["fit_s"] - cached["fits"][0]["fit_s"],
            "peak_rss_gb": cached["peak_rss_gb"],
            "test_rmse": cached["test_rmse"],
        }
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", nargs="+", default=["ml-100k", "ml-latest-small", "synth-5m"])
    a = p.parse_args()
    out = {"machine": machine(), "runs": {}}
    for name in a.data:
        out["runs"][name] = r = bench(name)
        print(name, r.get("summary", r), flush=True)
    print(save("train", out))


if __name__ == "__main__":
    main()
