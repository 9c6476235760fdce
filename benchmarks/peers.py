"""Issue 6's benchmark: movierec's local engine vs Spark MLlib ALS (local[2]) vs LensKit biased ALS.

Usage::

    python -m benchmarks.peers [--data ml-100k ml-latest-small synth-25m]
                               [--spark-iters-large 2] [--serving synth-25m]

``movierec-cg`` is the same engine with ``ALSConfig(solver="cg")``.
Same run, same process tree (each engine in a child of this script), same
train/test split, rank 64, 10 iterations, λ = 0.12 scaled by each row's
rating count (the ALS-WR convention all three use). Spark on the 25M-shaped
set runs ``--spark-iters-large`` iterations only; its 10-iteration time is
extrapolated from the per-iteration time and marked so. Also measures the
float32 GEMM rate of this machine (whole-iteration GFLOP/s are given against it),
and (``--serving``) batch top-10, online top-10 and fold-in latency.
Needs the optional ``bench`` extra (pyspark, lenskit) and Java 17.
Raw JSON: ``benchmarks/results/peers.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics

from benchmarks.common import (
    ITERS,
    SCRATCH,
    K,
    flops_per_iteration,
    gemm_cpu_gflops_per_core,
    gemm_gflops,
    machine,
    prepare,
    run_worker,
    save,
)

LARGE = {"synth-25m"}


def bench(name: str, spark_iters_large: int, engines: list[str]) -> dict:
    meta = prepare(name)
    data = str(SCRATCH / name)
    res: dict = {"data": meta}
    if "movierec" in engines:
        res["movierec"] = run_worker(["movierec", data] + ([] if name in LARGE else ["--warm"]))
    if "movierec-cg" in engines:  # ALSConfig(solver="cg"): conjugate gradient on rows of 64+ ratings
        res["movierec-cg"] = run_worker(["movierec", data, "--solver", "cg"] + ([] if name in LARGE else ["--warm"]))
    if "lenskit" in engines:
        res["lenskit"] = run_worker(["lenskit", data])
    if "spark" in engines:
        iters = spark_iters_large if name in LARGE else ITERS
        res["spark"] = s = run_worker(["spark", data, "--iters", str(iters)], timeout=7200)
    return res


def summarise(name: str, r: dict, gemm: float) -> dict:
    meta = r["data"]
    out: dict = {}
    m = r.get("movierec", {})
    if "fits" in m:
        fit = m["fits"][-1]
        fl = flops_per_iteration(meta["n_train"], meta["n_users"], meta["n_items"], K)
        out["movierec"] = {
            "fit_s": fit["fit_s"], "cpu_s": fit["cpu_s"], "iter_median_s": statistics.median(fit["iter_s"]),
            "gflops_per_s": fl / statistics.median(fit["iter_s"]) / 1e9,
            "iteration_share_of_gemm": fl / statistics.median(fit["iter_s"]) / 1e9 / gemm,
            "peak_rss_gb": m["peak_rss_gb"], "test_rmse": m["test_rmse"], "loadavg": fit["loadavg"],
        }  # fmt: skip
    cg = r.get("movierec-cg", {})
    if "fits" in cg:
        fit = cg["fits"][-1]
        out["movierec-cg"] = {"fit_s": fit["fit_s"], "cpu_s": fit["cpu_s"], "iter_median_s": statistics.median(fit["iter_s"]),
                              "peak_rss_gb": cg["peak_rss_gb"], "test_rmse": cg["test_rmse"], "loadavg": fit["loadavg"]}  # fmt: skip
    for peer in ("spark", "lenskit"):
        p = r.get(peer, {})
        if "fit_s" in p:
            scale = ITERS / p.get("iters", ITERS)  # Spark on the large set runs fewer iterations
            fit_s, cpu_s = p["fit_s"] * scale, p.get("cpu_s", float("nan")) * scale
            out[peer] = {"fit_s": fit_s, "cpu_s": cpu_s, "extrapolated": scale != 1, "peak_rss_gb": p["peak_rss_gb"],
                         "test_rmse": p["test_rmse"], "iters_run": p.get("iters", ITERS), "loadavg": p.get("loadavg")}  # fmt: skip
            if "movierec" in out:
                out[peer]["speedup_of_movierec"] = fit_s / out["movierec"]["fit_s"]
                out[peer]["cpu_speedup_of_movierec"] = cpu_s / out["movierec"]["cpu_s"]
            if "movierec-cg" in out:
                out[peer]["speedup_of_movierec_cg"] = fit_s / out["movierec-cg"]["fit_s"]
                out[peer]["cpu_speedup_of_movierec_cg"] = cpu_s / out["movierec-cg"]["cpu_s"]
        elif p:
            out[peer] = p
    return out


def resummarise(path: str) -> None:
    """Recompute the summary of a saved raw JSON (after a change to ``summarise``)."""
    import json

    out = json.loads(open(path).read())
    for name, r in out["runs"].items():
        out["summary"][name] = summarise(name, r, out["gemm_f32_gflops"])
    print(json.dumps(out["summary"], indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", nargs="+", default=["ml-100k", "ml-latest-small", "synth-25m"])
    p.add_argument("--engines", nargs="+", default=["movierec", "movierec-cg", "lenskit", "spark"])
    p.add_argument("--spark-iters-large", type=int, default=2)
    p.add_argument("--serving", nargs="*", default=[])
    p.add_argument("--out", default="peers")
    p.add_argument("--reg", type=float, help="λ for every engine (default 0.12; see benchmarks.common.REG)")
    p.add_argument("--resummarise", metavar="JSON", help="only recompute the summary of a saved run")
    a = p.parse_args()
    if a.resummarise:
        return resummarise(a.resummarise)
    if a.reg is not None:
        os.environ["MOVIEREC_BENCH_REG"] = str(a.reg)  # read by the worker processes
    gemm = statistics.median(gemm_gflops() for _ in range(3))
    out = {"reg": float(os.environ.get("MOVIEREC_BENCH_REG", "0.12")), "machine": machine(), "gemm_f32_gflops": gemm, "gemm_f32_cpu_gflops_per_core": gemm_cpu_gflops_per_core(),
           "runs": {}, "summary": {}, "serving": {}}  # fmt: skip
    print(f"float32 GEMM: {gemm:.1f} GFLOP/s", flush=True)
    for name in a.data:
        out["runs"][name] = r = bench(name, a.spark_iters_large, a.engines)
        out["summary"][name] = s = summarise(name, r, gemm)
        print(name, s, flush=True)
        save(a.out, out)
    for name in a.serving:
        prepare(name)
        out["serving"][name] = s = run_worker(["serving", str(SCRATCH / name)])
        print("serving", name, s, flush=True)
    print(save(a.out, out))


if __name__ == "__main__":
    main()
