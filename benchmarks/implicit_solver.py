"""Implicit ALS by conjugate gradient against exact solves: ranking quality, fit time, list changes.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.implicit_solver [--out-name implicit-cg]

On table 1 of ``benchmarks.ranking`` (ml-100k, ``recommenders-stratified``, any test rating
relevant) and its ml-latest-small last-5 table, in one run, every model on the same rows:

- ``als-implicit`` at its defaults with ``solver="cg"`` (3 warm-started steps) and ``"cholesky"``;
- the default ``hybrid`` with its implicit part's solver set each way (nothing else changed);
- ``als-implicit`` with λ (per event, as Spark) and α chosen from ``OUR_REGS`` × ``ALPHAS`` on the
  validation split ``benchmarks.ranking`` uses for the table, beside the ``implicit`` library's
  ``AlternatingLeastSquares`` with ``use_cg`` True and False, at the rank and sweeps of
  ``benchmarks.speed implicit`` (64, 15), fed the same confidences c = 1 + α·r/r_max as its values
  (the library reads a value as the confidence), its absolute λ and α chosen from ``LIB_REGS`` ×
  ``ALPHAS`` on that split; with the paired interval of our cg − the library's cg. The library's
  factors are scored by movierec's metric code (put into an ``ImplicitALS``), so every row is
  ranked by the same code.

Reported: NDCG@10 with the paired user-bootstrap interval of cg − exact, warm fit seconds (one
run; ml-100k is small, so these show order, not speed: ``benchmarks.speed implicit`` times
half-steps), and how much the top-10 lists move: the mean and smallest overlap of each user's
top-10 under cg and exact. Raw: ``benchmarks/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import numpy as np

from benchmarks.common import implicit_library_fit, machine, save
from benchmarks.ranking import _split
from movierec.data import load_movielens
from movierec.evaluation.intervals import paired_mean_difference
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.evaluation.splits import Split
from movierec.evaluation.tuning import INNER_HOLDOUT
from movierec.models import Hybrid, HybridConfig, ImplicitALS, ImplicitConfig, Recommender

TABLES = [("p1", "ml-100k", "stratified"), ("p3-mls-last5", "ml-latest-small", "last5")]
LIB_REGS = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0)  # absolute λ
OUR_REGS = (0.05, 0.1, 0.2, 0.5, 1.0)  # λ per event (ImplicitConfig.reg)
ALPHAS = (1.0, 3.0, 10.0)  # both sides: c = 1 + α·r/r_max
LIB_FACTORS, LIB_SWEEPS = 64, 15


def _evaluate(model: Recommender, split: Split) -> tuple[dict[str, Any], list[np.ndarray]]:
    guard = model.policy.min_ratings
    metrics, lists = ranking_metrics(model, split.test, EvalOptions(k=10, obscure_below=20), [guard], per_user=True)
    return metrics[guard], lists[guard]


def _library(split: Split, reg: float, alpha: float, use_cg: bool) -> tuple[ImplicitALS, float]:
    """The ``implicit`` library's factors inside an ``ImplicitALS`` (for scoring by movierec's code)."""
    model = ImplicitALS(ImplicitConfig(n_factors=LIB_FACTORS, n_iter=1)).fit(split.train)  # the data, the index
    lib, fit, _ = implicit_library_fit(model.user_items_, model.scale_.high, alpha, reg, LIB_FACTORS, LIB_SWEEPS, use_cg, 0)
    model.user_factors_ = np.ascontiguousarray(lib.user_factors, dtype=np.float32)
    model.item_factors_ = np.ascontiguousarray(lib.item_factors, dtype=np.float32)
    model._prepare()
    return model, fit


def _pair(label: str, fitted: dict[str, tuple[Recommender, float]], split: Split) -> dict[str, Any]:
    out: dict[str, Any] = {"model": label}
    per_user, lists = {}, {}
    for solver, (model, fit) in fitted.items():
        metrics, lists[solver] = _evaluate(model, split)
        per_user[solver] = np.array(metrics["ndcg_per_user"])
        out[solver] = {"ndcg": metrics["ndcg"], "precision": metrics["precision"], "coverage": metrics["coverage"],
                       "fit_seconds": fit}  # fmt: skip
    overlap = np.array([np.intersect1d(a, b).size for a, b in zip(lists["cg"], lists["exact"], strict=True)])
    out["cg_minus_exact"] = paired_mean_difference(per_user["exact"], per_user["cg"]).to_dict()
    out["top10_overlap"] = {"mean": float(overlap.mean()), "min": int(overlap.min()),
                            "share_identical": float((overlap == 10).mean())}  # fmt: skip
    return out


def _timed_fit(model: Recommender, split: Split) -> tuple[Recommender, float]:
    t0 = time.perf_counter()
    model.fit(split.train)
    return model, time.perf_counter() - t0


def _both(make: Any, split: Split) -> dict[str, tuple[Recommender, float]]:
    """``make(solver)`` fitted with CG and exact solves."""
    return {key: _timed_fit(make(solver), split) for key, solver in (("cg", "cg"), ("exact", "cholesky"))}


def _hybrid(solver: str) -> Hybrid:
    default = HybridConfig()
    return Hybrid(dataclasses.replace(default, implicit=dataclasses.replace(default.implicit, solver=solver)))


def run_table(table: str, dataset: str, kind: str) -> dict[str, Any]:
    data = load_movielens(dataset)
    outer = _split(data, kind)
    inner = _split(outer.train, kind, seed=7, holdout=INNER_HOLDOUT)
    ImplicitALS(ImplicitConfig(n_iter=1)).fit(inner.train)  # kernels compiled before any clock
    ours = _choose(
        lambda reg, alpha, s: ImplicitALS(ImplicitConfig(reg=reg, alpha=alpha)).fit(s.train), OUR_REGS, inner
    )
    lib = _choose(lambda reg, alpha, s: _library(s, reg, alpha, True)[0], LIB_REGS, inner)
    (o_reg, o_alpha), (l_reg, l_alpha) = ours["chosen"], lib["chosen"]
    tuned = _both(lambda solver: ImplicitALS(ImplicitConfig(reg=o_reg, alpha=o_alpha, solver=solver)), outer)
    library = {"cg": _library(outer, l_reg, l_alpha, True), "exact": _library(outer, l_reg, l_alpha, False)}
    rows = [
        _pair(
            "als-implicit (defaults)", _both(lambda solver: ImplicitALS(ImplicitConfig(solver=solver)), outer), outer
        ),
        _pair("hybrid (default)", _both(_hybrid, outer), outer),
        {**_pair(f"als-implicit (λ {o_reg:g} per event, α {o_alpha:g}, chosen)", tuned, outer), "validation": ours},
        {**_pair(f"implicit library (λ {l_reg:g}, α {l_alpha:g}, chosen)", library, outer), "validation": lib},
    ]
    ours_cg, lib_cg = (np.array(_evaluate(f["cg"][0], outer)[0]["ndcg_per_user"]) for f in (tuned, library))
    return {"dataset": dataset, "outer": outer.name, "inner": inner.name, "rows": rows,
            "tuned_cg_ours_minus_library": paired_mean_difference(lib_cg, ours_cg).to_dict()}  # fmt: skip


def _choose(fit: Any, regs: tuple[float, ...], inner: Split) -> dict[str, Any]:
    """The (λ, α) of ``regs`` × ``ALPHAS`` with the best validation NDCG@10 (training side only)."""
    scores = {(reg, alpha): _evaluate(fit(reg, alpha, inner), inner)[0]["ndcg"] for reg in regs for alpha in ALPHAS}
    best = max(scores, key=lambda key: scores[key])
    return {"chosen": best, "ndcg_by_reg_alpha": {f"{r:g},{a:g}": v for (r, a), v in scores.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-name", default="implicit-cg")
    args = parser.parse_args()
    tables = {}
    for table, dataset, kind in TABLES:
        tables[table] = run_table(table, dataset, kind)
        print(f"\n### {table}: {tables[table]['dataset']}, {tables[table]['outer']}\n")
        print("| model | NDCG@10 cg | NDCG@10 exact | cg − exact | top-10 overlap mean / min | fit s cg / exact |")
        print("|---|---|---|---|---|---|")
        for r in tables[table]["rows"]:
            d = r["cg_minus_exact"]
            overlap, cg, exact = r["top10_overlap"], r["cg"], r["exact"]
            print(f"| {r['model']} | {cg['ndcg']:.4f} | {exact['ndcg']:.4f} | {d['difference']:+.4f} "
                  f"[{d['low']:+.4f}, {d['high']:+.4f}] | {overlap['mean']:.2f} / {overlap['min']} "
                  f"| {cg['fit_seconds']:.2f} / {exact['fit_seconds']:.2f} |")  # fmt: skip
        d = tables[table]["tuned_cg_ours_minus_library"]
        print(f"\ntuned, cg: movierec − library {d['difference']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]")
    save(args.out_name, {"machine": machine(), "tables": tables})


if __name__ == "__main__":
    main()
