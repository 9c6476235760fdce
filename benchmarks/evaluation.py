"""Issue 4's tables: ml-100k u1-u5 RMSE, stratified ranking for every model, the guard curve, tuning.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.evaluation \
        [--tuned tuned.json] [--nested-trials 0] [--report-dir /tmp/movierec-eval]

1. RMSE on GroupLens' official folds u1..u5 for: default ALS, ``als-bayes``
   (Gibbs-sampled; its selection and nested runs: ``benchmarks/bayes.py``), ALS with the
   ``--tuned`` config (written by ``movierec tune --protocol ml100k-folds``,
   which searches u1.base only), damped biases, global mean, random.
   With ``--nested-trials N`` each fold k is also tuned on u{k}.base only
   (N Optuna trials, 3 inner folds) and scored on u{k}.test: the honest
   5-fold number (a config tuned on u1.base has seen u2..u5's test rows).
2. Microsoft Recommenders' ranking protocol: stratified 75/25 per user
   (seed 42), top-10 unseen films, relevance = any test rating: P@10,
   NDCG@10 (binary and graded) and beyond-accuracy for every model, and
   the guard curve of explicit ALS (its default confidence ranking and the
   predicted-rating list, ``rank_by="rating"``; and of the tuned config).

Raw JSON goes to ``benchmarks/results/evaluation.json``; Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from movierec.evaluation.protocols import EvalOptions, SplitOptions, evaluate_model, run_protocol
from movierec.evaluation.report import write_report
from movierec.evaluation.splits import ml100k_folds
from movierec.evaluation.tuning import read_config_file, tune
from movierec.models import make_model

RESULTS = Path(__file__).resolve().parent / "results"
GUARD_GRID = (0, 1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300)
MODELS = ["als", "bias", "popular", "random", "mean"]
OTHER_MODELS = ["hybrid", "als-implicit", "als-time"]
"""Models of other issues, run through the same harness when the registry has them."""


def machine() -> dict[str, Any]:
    """Machine and library facts for the README."""
    import numba
    import numpy
    import optuna
    import polars

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
        "numba": numba.__version__, "polars": polars.__version__, "optuna": optuna.__version__,
        "load_average_at_start": os.getloadavg(),
    }  # fmt: skip


def save(name: str, payload: dict[str, Any]) -> Path:
    """Raw JSON to benchmarks/results/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def fmt(v: Any) -> str:
        return "—" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def folds_rmse(configs: dict[str, dict[str, Any]], report_dir: Path) -> dict[str, Any]:
    """RMSE per official fold for ALS (default and tuned), Gibbs-sampled ALS and the rating baselines."""
    names = ["als", "als-bayes", "bias", "mean", "random"]
    res = run_protocol("ml-100k", "ml100k-folds", names, options=EvalOptions(guard_grid=()))
    write_report(res, report_dir / "ml100k-folds.html", "ml-100k u1-u5, default ALS and baselines")
    out: dict[str, Any] = {"default": res.to_dict()}
    if "als" in configs:
        tuned = run_protocol("ml-100k", "ml100k-folds", ["als"], configs, options=EvalOptions(guard_grid=()))
        out["tuned"] = tuned.to_dict() | {"config": configs["als"]}
    return out


def nested(trials: int, seed: int) -> list[dict[str, Any]]:
    """Tune on u{k}.base only, score on u{k}.test: no fold's test rows ever reach its search."""
    rows = []
    for split in ml100k_folds("ml-100k"):
        t0 = time.perf_counter()
        tuned = tune(split.train, "als", trials, objective="rmse", n_folds=3, seed=seed, guard_grid=())
        cfg = dict(tuned.config)
        model = make_model("als", cfg).fit(split.train)
        row, _, _ = evaluate_model(model, split, EvalOptions())
        rows.append({"fold": split.name, "rmse": row["rmse"], "inner_cv_rmse": tuned.value, "config": cfg,
                     "seconds": time.perf_counter() - t0})  # fmt: skip
        print(f"nested {split.name}: test RMSE {row['rmse']:.4f} (inner CV {tuned.value:.4f}) {cfg}", flush=True)
    return rows


def stratified(configs: dict[str, dict[str, Any]], report_dir: Path) -> dict[str, Any]:
    """Microsoft Recommenders' ranking protocol for every model, guard curve included."""
    opts = SplitOptions(test_fraction=0.25, seed=42)
    res = run_protocol("ml-100k", "stratified", MODELS, {}, opts, EvalOptions(k=10, guard_grid=GUARD_GRID))
    write_report(res, report_dir / "stratified.html", "ml-100k stratified 75/25: every model")
    out: dict[str, Any] = {"default": res.to_dict()}
    # ALS's classic predicted-rating list and its guard curve (its default ranks by confidence since issue 4's
    # confidence guard; the choice of η is in benchmarks/confidence_guard.py)
    rating = run_protocol("ml-100k", "stratified", ["als"], {}, opts, EvalOptions(k=10, guard_grid=GUARD_GRID, rank_by="rating"))
    out["als rank_by=rating"] = rating.to_dict()
    if "als" in configs:
        tuned = run_protocol("ml-100k", "stratified", ["als"], configs, opts, EvalOptions(k=10, guard_grid=GUARD_GRID))
        out["tuned"] = tuned.to_dict() | {"config": configs["als"]}
    return out


def others(cutoff: str) -> dict[str, Any]:
    """The other registered models on the stratified split, and everything on a global chrono split."""
    from movierec.models import MODELS as REGISTRY

    extra = [m for m in OTHER_MODELS if m in REGISTRY]
    opts = EvalOptions(k=10)
    strat = run_protocol("ml-100k", "stratified", extra, {}, SplitOptions(test_fraction=0.25, seed=42), opts) if extra else None
    chrono = run_protocol("ml-100k", "chrono", ["als", "bias", "popular", "random", *extra], {}, SplitOptions(cutoff=cutoff), opts)
    return {"stratified": strat.to_dict() if strat else None, "chrono": chrono.to_dict()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tuned", type=Path, help="config file written by `movierec tune`")
    ap.add_argument("--nested-trials", type=int, default=0, help="Optuna trials per fold for nested tuning (0 = skip)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--report-dir", type=Path, default=Path("/tmp/movierec-eval"))
    ap.add_argument("--skip", nargs="*", default=[], choices=["folds", "stratified", "others"])
    ap.add_argument("--cutoff", default="0.8", help="chrono split of the 'others' section: train fraction, ISO date or epoch")
    ap.add_argument("--out-name", default="evaluation", help="raw JSON goes to benchmarks/results/NAME.json")
    args = ap.parse_args()
    configs = read_config_file(args.tuned).configs if args.tuned else {}
    payload: dict[str, Any] = {"machine": machine(), "tuned_file": json.loads(args.tuned.read_text()) if args.tuned else None}
    t0 = time.perf_counter()
    if "folds" not in args.skip:
        payload["folds"] = folds_rmse(configs, args.report_dir)
        for key, res in payload["folds"].items():
            rows = [{"model": r["model"], "split": r["split"], "rmse": r["rmse"], "mae": r["mae"]} for r in res["rows"]]
            print(f"\n### ml-100k u1-u5 RMSE ({key})\n" + table(rows, ["model", "split", "rmse", "mae"]))
            print(table(res["summary"], ["model", "rmse", "mae", "n_cold_pairs"]))
    if args.nested_trials:
        payload["nested"] = nested(args.nested_trials, args.seed)
        print("\n### nested tuning\n" + table(payload["nested"], ["fold", "rmse", "inner_cv_rmse"]))
    if "stratified" not in args.skip:
        payload["stratified"] = stratified(configs, args.report_dir)
        for key, res in payload["stratified"].items():
            cols = ["model", "min_ratings", "precision", "ndcg", "ndcg_graded", "recall", "map", "mrr", "coverage",
                    "novelty", "avg_popularity", "obscure_share", "diversity", "rmse"]  # fmt: skip
            print(f"\n### stratified 75/25 ({key})\n" + table(res["summary"], cols))
            for name, rows in res["guard"].items():
                print(f"\nguard curve {name} ({key})\n" + table(rows, ["min_ratings", "precision", "ndcg", "obscure_share", "coverage", "avg_popularity"]))
    if "others" not in args.skip:
        payload["others"] = others(args.cutoff)
        cols = ["model", "min_ratings", "precision", "ndcg", "recall", "coverage", "avg_popularity", "rmse", "n_users_ranked", "n_users_cold"]
        for key, res in payload["others"].items():
            if res:
                print(f"\n### {key} (others)\n" + table(res["summary"], cols))
    payload["seconds"] = time.perf_counter() - t0
    print(f"\nraw JSON: {save(args.out_name, payload)}; reports in {args.report_dir}")


if __name__ == "__main__":
    main()
