"""The confidence-aware guard of explicit ALS (issue 4's stratified target): curves, choice of η, check.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.confidence_guard   # -> results/confidence_guard.json

Protocol: ml-100k, stratified 75/25 per user (seed 42; Microsoft Recommenders'),
top-10 unseen films, relevance = any test rating, guard ``min_ratings`` = 20
(ALS's default) under every ranking.

1. Choice of η (``confidence_weight``) on the *training* side only: three inner
   stratified 75/25 splits of the outer training set (seeds 43, 44, 45), default
   ALS fitted on each inner training set, NDCG@10 of every η on the grid and of
   most-popular averaged over the three. Rule: the smallest η (the most personal
   list) whose mean inner NDCG@10 is at least most-popular's; the argmax is
   reported too. The other candidates (the lower confidence bound
   r̂ − z·σ/√(n + 1) with σ the training residual RMSE, and the Bayesian-shrunk
   rating (r̂ − c)·n/(n + m) with c = μ or the scale's low end) get the same
   inner curves.
2. Outer test (seed 42) for every candidate and parameter: NDCG@10, P@10,
   coverage, obscure share (< 10 ratings), average popularity, overlap with the
   most-popular top-10 (mean share of a user's 10 slots that most-popular also
   fills).
3. Robustness of the chosen η: outer seeds 1 and 2, and relevance = rating >= 4.
4. The default ALS (confidence) against most-popular and the predicted-rating list on two
   protocols of the future: ml-100k global chrono split (train fraction 0.8) and
   ml-latest-small per-user last 5 ratings.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.evaluation import machine, save, table
from movierec.data.load import load_movielens
from movierec.evaluation.protocols import EvalOptions, SplitOptions, make_splits, ranking_metrics, run_protocol
from movierec.evaluation.splits import Split, stratified_split
from movierec.models import Recommender, make_model

ETA_GRID = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
LCB_Z = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
SHRINK_M = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
GUARD = 20
KEYS = ("ndcg", "precision", "ndcg_graded", "recall", "map", "coverage", "obscure_share", "avg_popularity", "novelty")


def overlap(lists: list[np.ndarray], reference: list[np.ndarray], k: int) -> float:
    """Mean over users of |list ∩ reference list| / k."""
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(lists, reference)]))


def candidate_scorers(model: Recommender) -> dict[str, tuple[tuple[float, ...], Callable[[np.ndarray, float], np.ndarray]]]:
    """The prototypes that did not enter the product: family -> (grid, score(r̂ of one user, parameter))."""
    n = model.item_counts_.astype(np.float64)
    tr = model.user_items_.tocoo()
    resid = model.predict_idx(tr.row.astype(np.int64), tr.col.astype(np.int64)) - tr.data
    sigma = float(np.sqrt(np.mean(resid**2)))
    mu, low = float(model.global_mean_), float(model.scale_.low)  # type: ignore[attr-defined]
    return {
        "lcb (z)": (LCB_Z, lambda s, z: s - z * sigma / np.sqrt(n + 1)),
        "shrunk, c = μ (m)": (SHRINK_M + (np.inf,), lambda s, m: (s - mu) * (n if np.isinf(m) else n / (n + m))),
        "shrunk, c = low (m)": (SHRINK_M + (np.inf,), lambda s, m: (s - low) * (n if np.isinf(m) else n / (n + m))),
    }


def split_curves(split: Split, k: int = 10, threshold: float | None = None, prototypes: bool = True,
                 grid: tuple[float, ...] = ETA_GRID) -> dict[str, Any]:  # fmt: skip
    """Every ranking of default ALS (and most-popular) on one split."""
    t0 = time.perf_counter()
    als = make_model("als", None).fit(split.train)
    popular = make_model("popular", None).fit(split.train)
    base = EvalOptions(k=k, relevance_threshold=threshold)
    pop_row, pop_lists = ranking_metrics(popular, split.test, base, [0])
    ref = pop_lists[0]

    def measure(family: str, param: Any, model: Recommender, options: EvalOptions, guard: int = GUARD) -> dict[str, Any]:
        row, lists = ranking_metrics(model, split.test, options, [guard])
        out = {"family": family, "param": param, "min_ratings": guard, **{key: row[guard][key] for key in KEYS}}
        out["overlap_popular"] = overlap(lists[guard], ref, k)
        return out

    rows = [measure("most popular", None, popular, base, 0)]
    rows.append(measure("predicted rating", None, als, EvalOptions(k=k, relevance_threshold=threshold, rank_by="rating")))
    for eta in grid:
        rows.append(measure("confidence (η)", eta, als,
                            EvalOptions(k=k, relevance_threshold=threshold, rank_by="confidence", confidence_weight=eta)))  # fmt: skip
    if prototypes:
        rating = type(als).score.__get__(als)
        for family, (values, fn) in candidate_scorers(als).items():
            for p in values:
                als.score = lambda state, p=p, fn=fn: fn(rating(state), p).astype(np.float32)  # type: ignore[method-assign]
                rows.append(measure(family, p, als, EvalOptions(k=k, relevance_threshold=threshold, rank_by="score")))
            del als.score
    return {"split": split.name, "info": split.info, "rows": rows, "seconds": time.perf_counter() - t0}


def choose_eta(inner: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule of the module doc on the mean inner curves."""
    def mean(family: str, param: Any) -> float:
        return float(np.mean([r["ndcg"] for c in inner for r in c["rows"] if r["family"] == family and r["param"] == param]))

    popular = mean("most popular", None)
    curve = {eta: mean("confidence (η)", eta) for eta in ETA_GRID}
    passing = [eta for eta, v in curve.items() if v >= popular]
    return {"inner_popular_ndcg": popular, "inner_curve": curve, "argmax": max(curve, key=lambda e: curve[e]),
            "chosen": min(passing) if passing else None}  # fmt: skip


def future_protocols() -> list[dict[str, Any]]:
    """Default ALS (confidence), ALS rank_by="rating" and most-popular on chrono and last-5 splits."""
    rows = []
    for data, protocol, opts in (("ml-100k", "chrono", SplitOptions(cutoff="0.8")),
                                 ("ml-latest-small", "last-n", SplitOptions(last_n=5))):  # fmt: skip
        for rank_by, models in ((None, ["als", "popular"]), ("rating", ["als"])):
            res = run_protocol(data, protocol, models, None, opts, EvalOptions(k=10, rank_by=rank_by))
            for r in res.summary():
                label = r["model"] + (" rank_by=rating" if rank_by else "")
                rows.append({"data": data, "protocol": protocol, "model": label, **{k: r[k] for k in KEYS}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-name", default="confidence_guard")
    args = parser.parse_args()
    t0 = time.time()
    data = load_movielens("ml-100k")
    outer = next(make_splits(data, "stratified", SplitOptions(test_fraction=0.25, seed=42)))
    inner = []
    for seed in (43, 44, 45):
        split = Split.from_mask(outer.train, stratified_split(outer.train, 0.25, seed), f"inner {seed}", seed=seed)
        inner.append(split_curves(split))
    choice = choose_eta(inner)
    eta = choice["chosen"]
    outer_res = split_curves(outer)
    chosen_grid = tuple(sorted({eta, choice["argmax"]}))
    robustness = [split_curves(next(make_splits(data, "stratified", SplitOptions(seed=s))), prototypes=False, grid=chosen_grid)
                  for s in (1, 2)]  # fmt: skip
    liked = split_curves(outer, threshold=4.0, prototypes=False, grid=chosen_grid)
    future = future_protocols()
    payload = {"machine": machine(), "protocol": "ml-100k stratified 75/25, k=10, relevance = any test rating",
               "guard": GUARD, "choice": choice, "inner": inner, "outer": outer_res, "robustness": robustness,
               "relevance_4": liked, "future": future, "seconds": time.time() - t0}  # fmt: skip
    path = save(args.out_name, payload)
    print(f"inner: most-popular NDCG@10 {choice['inner_popular_ndcg']:.4f}; η curve " +
          ", ".join(f"{e:g}: {v:.4f}" for e, v in choice["inner_curve"].items()) + f"; chosen η = {eta}, argmax {choice['argmax']}")  # fmt: skip
    cols = ["family", "param", "ndcg", "precision", "coverage", "obscure_share", "avg_popularity", "overlap_popular"]
    print("\nouter (seed 42)\n" + table(outer_res["rows"], cols))
    for res in [*robustness, liked]:
        print(f"\n{res['split']} {res['info']}\n" + table(res["rows"], cols))
    print("\nfuture protocols\n" + table(future, ["data", "protocol", "model", "ndcg", "precision", "recall", "coverage"]))
    print(f"\nwrote {path} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
