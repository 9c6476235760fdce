"""How the hybrid's defaults were chosen: a grid scored on validation splits inside the training data.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.hybrid_selection

For ml-100k (stratified 75/25, seed 42) and ml-latest-small (last 5 per
user), the outer training side is split again by the same protocol; every
grid point is fitted on the inner training side and scored by NDCG@10 on the
inner validation side — the outer test side is never read. The demo profile's
guarded list (Animation/Children count, Horror count) is reported beside it.
Raw JSON goes to ``benchmarks/results/hybrid_selection.json``.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

from movierec import load_movielens
from movierec.errors import DataWarning
from movierec.evaluation.protocols import EvalOptions, SplitOptions, evaluate_model, make_splits
from movierec.models import Hybrid, HybridConfig, ImplicitConfig
from movierec.ranking.demo import demo_lists

RESULTS = Path(__file__).resolve().parent / "results"
SETUPS = [("ml-100k", "stratified", SplitOptions(test_fraction=0.25, seed=42)), ("ml-latest-small", "last-n", SplitOptions(last_n=5))]
GRID = {"implicit_reg": [0.1, 0.2], "popularity_debias": [0.2, 0.35, 0.5], "rating_weight": [0.1, 0.3]}


def main() -> None:
    warnings.simplefilter("ignore", DataWarning)  # last-n is per user by design (documented)
    inner = {}
    for data, protocol, opts in SETUPS:
        outer = next(make_splits(data, protocol, opts))
        inner[data] = next(make_splits(outer.train, protocol, opts))
    demo_data = load_movielens("ml-latest-small")
    rows = []
    for reg, gamma, weight in itertools.product(*GRID.values()):
        cfg = HybridConfig(implicit=ImplicitConfig(reg=reg, alpha=3.0, negative_below=3.0), popularity_debias=gamma, rating_weight=weight)
        row: dict[str, float] = {"implicit_reg": reg, "popularity_debias": gamma, "rating_weight": weight}
        for data, split in inner.items():
            metrics, _, _ = evaluate_model(Hybrid(cfg).fit(split.train), split, EvalOptions(k=10))
            row[f"{data} val ndcg"] = metrics["ndcg"]
            row[f"{data} val coverage"] = metrics["coverage"]
        guarded = demo_lists(Hybrid(cfg).fit(demo_data))["guarded"]
        row["demo family"] = sum(bool({"Animation", "Children"} & set(r.genres)) for r in guarded)
        row["demo horror"] = sum("Horror" in r.genres for r in guarded)
        rows.append(row)
    best = {d: max(r[f"{d} val ndcg"] for r in rows) for d in inner}
    for r in rows:
        r["score"] = sum(r[f"{d} val ndcg"] / best[d] for d in inner)
    rows.sort(key=lambda r: -r["score"])
    print("| implicit reg | γ | rating weight | ml-100k val NDCG | ml-latest-small val NDCG | score | demo family/10 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['implicit_reg']} | {r['popularity_debias']} | {r['rating_weight']} | {r['ml-100k val ndcg']:.4f} | "
              f"{r['ml-latest-small val ndcg']:.4f} | {r['score']:.3f} | {r['demo family']} |")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hybrid_selection.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
