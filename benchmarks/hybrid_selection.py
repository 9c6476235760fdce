"""How the default's blend weights were chosen: a grid on validation splits of the training side.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.hybrid_selection [--holdout 0.25] [--out-name NAME]

For each table of ``benchmarks.ranking`` but the chronological one (ml-100k stratified, any rating
and rating >= 4; per-user last 5 on ml-latest-small and ml-100k), the outer training side is split
again by the table's own inner protocol (stratified with the outer share held out, ``--holdout``
0.25, seed 7: a 90/10 inner split ranked the default above tuned implicit ALS while the outer test
ranks it below, decision 0020; or each user's last 5) and every grid point is fitted on the inner training side and scored by NDCG@10 on
the inner validation side: the outer test side is never read. A point's score is its mean NDCG@10
relative to the best point of each table. The demo profile's guarded list (Animation/Children and
Horror counts: the product's pinned scenario wants >= 5 family films and no horror) is reported
beside it. The grid: the EASE term's weight and λ and the rating term's weight (``GRID``);
everything else is the default ``HybridConfig``. Raw JSON: ``benchmarks/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from typing import Any

from benchmarks.common import machine, save
from benchmarks.ranking import TABLES, _split
from movierec.data import load_movielens
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.models import Hybrid, HybridConfig
from movierec.models.ease import EaseConfig
from movierec.ranking.demo import demo_lists

GRID = {"ease_weight": (0.5, 1.0, 1.5, 2.0), "ease_reg": (250.0, 500.0, 1000.0), "rating_weight": (0.013, 0.1, 0.3, 0.7)}


def config(ease_weight: float, ease_reg: float, rating_weight: float) -> HybridConfig:
    ease = EaseConfig(reg=ease_reg, max_items=2000)
    return dataclasses.replace(HybridConfig(), ease_weight=ease_weight, ease=ease, rating_weight=rating_weight)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", type=float, default=0.25, help="inner stratified split's held-out share")
    parser.add_argument("--out-name", default="hybrid_selection")
    args = parser.parse_args()
    inner, splits = {}, {}
    for table, dataset, outer_kind, inner_kind, threshold in TABLES:
        if table != "p3-100k-chrono":  # its inner split is ml-100k's last 5 again
            if (dataset, outer_kind) not in splits:
                outer = _split(load_movielens(dataset), outer_kind)
                splits[dataset, outer_kind] = _split(outer.train, inner_kind, seed=7, holdout=args.holdout)
            inner[table] = (splits[dataset, outer_kind], threshold)
    demo_data = load_movielens("ml-latest-small")
    rows: list[dict[str, Any]] = []
    for point in itertools.product(*GRID.values()):
        cfg = config(*point)
        row: dict[str, Any] = dict(zip(GRID, point, strict=True))
        fitted: dict[int, Hybrid] = {}
        for table, (split, threshold) in inner.items():
            if id(split) not in fitted:
                fitted[id(split)] = Hybrid(cfg).fit(split.train)
            options = EvalOptions(k=10, relevance_threshold=threshold)
            row[table] = ranking_metrics(fitted[id(split)], split.test, options, [5])[0][5]["ndcg"]
        guarded = demo_lists(Hybrid(cfg).fit(demo_data))["guarded"]
        row["demo family"] = sum(bool({"Animation", "Children"} & set(r.genres)) for r in guarded)
        row["demo horror"] = sum("Horror" in r.genres for r in guarded)
        rows.append(row)
    best = {t: max(r[t] for r in rows) for t in inner}
    for r in rows:
        r["score"] = sum(r[t] / best[t] for t in inner) / len(inner)
    rows.sort(key=lambda r: -r["score"])
    print("| " + " | ".join(GRID) + " | " + " | ".join(inner) + " | score | demo family/horror |")
    print("|---" * (len(GRID) + len(inner) + 2) + "|")
    for r in rows:
        cells = " | ".join(f"{r[t]:.4f}" for t in inner)
        demo = f"{r['demo family']}/{r['demo horror']}"
        print("| " + " | ".join(f"{r[g]:g}" for g in GRID) + f" | {cells} | {r['score']:.4f} | {demo} |")
    save(args.out_name, {"machine": machine(), "inner": {t: s.name for t, (s, _) in inner.items()}, "grid": GRID,
                         "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
