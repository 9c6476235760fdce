"""recommend-all for every model through the one block path, and evaluation's ranking loop, at ML-25M shape.

Usage::

    python -m benchmarks.batch [--ratings 25000000] [--models als hybrid als-implicit als-time] [--out-name batch-25m]

Synthetic ratings of ML-25M's shape (``synthetic_ratings(n, seed=0)``: 162k users × 59k films at 25M
ratings) are written once to the scratch folder. Each model is fitted (its default config with 3
sweeps: ranking speed depends on the rank, not on how converged the factors are) and ranked in its
own child process (``benchmarks.common.run_worker``), which reports: the fit's seconds, the seconds of
``write_recommendations`` (top-10 of every user, rated films excluded, the model's guard), its
GFLOP/s by the count 2·n_users·n_eligible·d of the linear form's product, the peak RSS before and
during ranking. The machine's float32 GEMM rate is measured in the same run, and for one model the
time of ``evaluate``'s ranking metrics on a 90/10 split of the same data. Raw JSON:
``benchmarks/results/NAME.json``. Public names only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, SCRATCH, gemm_gflops, machine, save

MODELS = ("als", "hybrid", "als-implicit", "als-time")
SWEEPS = 3


def prepare(n: int) -> Path:
    """Write ``synthetic_ratings(n, seed=0)`` once as Parquet; return its path."""
    path = SCRATCH / f"synth-{n}" / "ratings.parquet"
    if not path.exists():
        from movierec.data import synthetic_ratings

        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_ratings(n, seed=0).write_parquet(path)
    return path


def _config(name: str) -> dict[str, Any]:
    return {"als": {"n_iter": SWEEPS}, "hybrid": {"explicit": {"n_iter": SWEEPS}, "implicit": {"n_iter": SWEEPS}},
            "als-implicit": {"n_iter": SWEEPS}, "als-time": {"explicit": {"n_iter": SWEEPS}}}.get(name, {})  # fmt: skip


def worker(name: str, data: Path, evaluate: bool) -> dict[str, Any]:
    """One model: fit, then recommend-all to a scratch file (and optionally evaluation's ranking loop)."""
    import polars as pl

    from movierec.data import Dataset, RatingScale
    from movierec.models import make_model
    from movierec.models.base import LinearScores
    from movierec.ranking import index_for
    from movierec.ranking.batch import write_recommendations
    from movierec.ranking.scoring import block_scores
    from movierec.training import warm_kernels

    warm_kernels(name)
    ds = Dataset.from_frames(pl.read_parquet(data), None, RatingScale(0.5, 5.0, 0.5), check_duplicates=False)
    model = make_model(name, _config(name))
    t0 = time.perf_counter()
    model.fit(ds)
    fit_s = time.perf_counter() - t0
    form = block_scores(model, model.user_states([0]), model.policy, index_for(model))
    d = form.user_vectors.shape[1] if isinstance(form, LinearScores) else None
    n_eligible = int((model.item_counts_ >= model.policy.min_ratings).sum())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = SCRATCH / f"recs-{name}.parquet"
    t0 = time.perf_counter()
    rows = write_recommendations(model, out, k=10)
    rank_s = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result: dict[str, Any] = {
        "model": name, "n_ratings": ds.n_ratings, "n_users": ds.n_users, "n_items": ds.n_items, "fit_seconds": fit_s,
        "rank_seconds": rank_s, "rows": rows, "dimension": d, "n_eligible": n_eligible, "guard": model.policy.min_ratings,
        "rank_gflops": (2.0 * ds.n_users * n_eligible * d / rank_s / 1e9) if d else None,
        "peak_rss_before_rank_gb": rss_before / 1e9, "peak_rss_after_rank_gb": rss_after / 1e9,
    }  # fmt: skip
    if evaluate:
        from movierec.evaluation.protocols import EvalOptions, ranking_metrics
        from movierec.evaluation.splits import Split, random_split

        split = Split.from_mask(ds, random_split(ds, 0.1, seed=42), "random 90/10")
        model = make_model(name, _config(name)).fit(split.train)
        t0 = time.perf_counter()
        metrics, _ = ranking_metrics(model, split.test, EvalOptions(k=10), [model.policy.min_ratings])
        result["evaluate_ranking_seconds"] = time.perf_counter() - t0
        result["evaluate_users_ranked"] = metrics[model.policy.min_ratings]["n_users_ranked"]
        result["evaluate_ndcg"] = metrics[model.policy.min_ratings]["ndcg"]
    out.unlink(missing_ok=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--evaluate", default="hybrid", help="model whose evaluation ranking loop is timed ('' for none)")
    parser.add_argument("--out-name", default="batch-25m")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "DATA", "EVALUATE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, data, evaluate = args.worker
        print(json.dumps(worker(name, Path(data), evaluate == "1")))
        return
    data = prepare(args.ratings)
    facts = machine()
    runs = {}
    for name in args.models:
        gemm = gemm_gflops()
        runs[name] = run_worker_batch(name, data, name == args.evaluate)
        runs[name]["gemm_gflops_before"] = gemm
        print(name, {k: v for k, v in runs[name].items() if k in ("fit_seconds", "rank_seconds", "rank_gflops", "peak_rss_gb")}, file=sys.stderr)
    path = save(args.out_name, {"machine": facts, "ratings": args.ratings, "sweeps": SWEEPS, "runs": runs,
                                "load_average_at_end": os.getloadavg()})  # fmt: skip
    print(path)


def run_worker_batch(name: str, data: Path, evaluate: bool) -> dict[str, Any]:
    """``python -m benchmarks.batch --worker ...`` in a child process, with its tree's peak RSS."""
    import subprocess

    cmd = [sys.executable, "-m", "benchmarks.batch", "--worker", name, str(data), "1" if evaluate else "0"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-5:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - t0
    return result


if __name__ == "__main__":
    main()
