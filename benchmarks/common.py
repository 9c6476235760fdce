"""Shared benchmark plumbing: data splits, process-tree RSS, machine facts, GEMM rate.

Every engine runs in its own child process (``python -m benchmarks.worker``)
started by the driver script, so peak RSS is measured per engine for the whole
process tree (a JVM included) by polling ``/proc``, and engines cannot share
warm caches by accident. Data are written once per run to a scratch folder
(default ``/tmp/movierec-bench``; never committed) as Parquet train/test splits.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCRATCH = Path(os.environ.get("MOVIEREC_BENCH_DIR", "/tmp/movierec-bench"))

ITERS, BIAS_REG, SEED = 10, 0.02, 42
K = int(os.environ.get("MOVIEREC_BENCH_FACTORS", "64"))
"""Rank of every engine's factors (``scaling.py --factors`` sets it for its worker processes)."""
REG = float(os.environ.get("MOVIEREC_BENCH_REG", "0.12"))
"""Rank 64, 10 iterations, λ = 0.12 times each row's rating count (ALS-WR: movierec, Spark and LensKit all scale by n).

``peers.py --reg`` changes λ for every engine of a run (through ``MOVIEREC_BENCH_REG``, so the
worker processes see it): on the synthetic sets λ = 0.12 over-regularizes both movierec and LensKit.
"""


def flops_per_iteration(n_ratings: int, n_users: int, n_items: int, k: int = K) -> float:
    """The issue's count: 2·n_ratings·k² (normal equations) + (n_users + n_items)·k³/3 (solves)."""
    return 2.0 * n_ratings * k * k + (n_users + n_items) * k**3 / 3.0


def prepare(name: str) -> dict[str, Any]:
    """Write train/test Parquet for a dataset name and return its description.

    ``ml-100k``: the official u1.base/u1.test split. ``ml-latest-small``: a
    seeded random 80/20 split. ``synth-1m`` / ``-5m`` / ``-25m`` / ``-100m``: ``synthetic_ratings``
    (seed 0, ML-25M shape), seeded random 90/10 split.
    """
    import polars as pl

    out = SCRATCH / name
    meta_file = out / "meta.json"
    if meta_file.exists():
        return json.loads(meta_file.read_text())
    out.mkdir(parents=True, exist_ok=True)
    cols = ["user_id", "movie_id", "rating"]
    if name == "ml-100k":
        from movierec.data.home import data_home

        base = data_home() / "ml-100k"
        read = lambda f: pl.read_csv(base / f, separator="\t", has_header=False, new_columns=[*cols, "timestamp"])  # noqa: E731
        train, test = read("u1.base").select(cols), read("u1.test").select(cols)
        how = "official u1.base / u1.test"
    else:
        if name == "ml-latest-small":
            from movierec.data import load_movielens

            frame, frac, how = load_movielens(name).ratings.select(cols), 0.2, "seeded random 80/20 (seed 42)"
        else:
            from movierec.data.synth import synthetic_ratings

            n = {"synth-1m": 1_000_000, "synth-5m": 5_000_000, "synth-25m": 25_000_000, "synth-100m": 100_000_000}[name]
            frame, frac, how = synthetic_ratings(n, seed=0).select(cols), 0.1, "synthetic_ratings(seed=0), seeded random 90/10"
        test_mask = np.random.default_rng(SEED).random(frame.height) < frac
        train, test = frame.filter(~pl.Series(test_mask)), frame.filter(pl.Series(test_mask))
    cast = [pl.col("user_id").cast(pl.Int64), pl.col("movie_id").cast(pl.Int64), pl.col("rating").cast(pl.Float32)]
    train.with_columns(cast).write_parquet(out / "train.parquet")
    test.with_columns(cast).write_parquet(out / "test.parquet")
    meta = {
        "name": name, "split": how, "n_train": train.height, "n_test": test.height,
        "n_users": train["user_id"].n_unique(), "n_items": train["movie_id"].n_unique(),
    }  # fmt: skip
    meta_file.write_text(json.dumps(meta))
    return meta


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run_worker(args: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m benchmarks.worker ARGS`` and return its JSON plus the tree's peak RSS."""
    cmd = [sys.executable, "-m", "benchmarks.worker", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        done.set()
        t.join()
    if proc.returncode != 0:
        return {"error": stderr.strip().splitlines()[-5:] if stderr.strip() else f"exit {proc.returncode}", "cmd": args}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_gb"] = round(peak[0] / 1e9, 3)
    return result


def implicit_library_fit(user_items: Any, scale_high: float, alpha: float, reg: float, factors: int, iters: int,
                         use_cg: bool = True, seed: int = SEED) -> tuple[Any, float, float]:
    """The ``implicit`` library's ALS on movierec's confidences: (fitted model, wall s, CPU s of the fit alone).

    ``user_items`` is a CSR of star ratings; the library reads each value as the confidence, so it is fed
    c = 1 + α·r/r_max (``movierec.models.implicit.confidence_values``). BLAS on one thread, as the library asks;
    its own threads on every core. Building that CSR is outside the clock (movierec's fits build theirs inside).
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from movierec.models import ImplicitConfig
    from movierec.models.implicit import confidence_values

    events = user_items.astype(np.float32)  # a copy: the caller's values stay stars
    events.data = confidence_values(events.data, scale_high, ImplicitConfig(alpha=alpha))[0]
    with threadpool_limits(1, "blas"):
        lib = AlternatingLeastSquares(factors=factors, iterations=iters, regularization=reg, use_cg=use_cg,
                                      random_state=seed)  # fmt: skip
        t, c = time.perf_counter(), time.process_time()
        lib.fit(events, show_progress=False)
        return lib, time.perf_counter() - t, time.process_time() - c


def gemm_gflops(n: int = 4096, repeats: int = 5) -> float:
    """Best float32 GEMM rate (GFLOP/s) of NumPy's BLAS on all configured threads."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best / 1e9


def gemm_cpu_gflops_per_core(n: int = 2048, repeats: int = 5) -> float:
    """float32 GEMM rate per core in CPU time (one BLAS thread, ``process_time``): robust to a busy machine."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    with threadpool_limits(1, user_api="blas"):
        a @ b
        best = float("inf")
        for _ in range(repeats):
            t = time.process_time()
            a @ b
            best = min(best, time.process_time() - t)
    return 2.0 * n**3 / best / 1e9


def machine() -> dict[str, Any]:
    """Machine, library and BLAS facts for the README."""
    import numba
    import scipy
    from threadpoolctl import threadpool_info

    import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's OpenBLAS so it is listed)

    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts: dict[str, Any] = {
        "cpu": cpu, "cores": os.cpu_count(), "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
        "numba_threading_layer": numba.config.THREADING_LAYER,
        "blas": [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")} for i in threadpool_info()],
        "env": {k: os.environ.get(k) for k in ("MOVIEREC_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")},
        "load_average_at_start": os.getloadavg(),
    }  # fmt: skip
    for mod in ("pyspark", "lenskit"):
        try:
            facts[mod] = __import__(mod).__version__
        except ImportError:
            facts[mod] = None
    return facts


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write raw JSON to benchmarks/results/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
