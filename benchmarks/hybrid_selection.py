"""How the weight and λ of the default's EASE term were chosen: a grid on validation splits of the training side.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.hybrid_selection

For each table of ``benchmarks.ranking`` but the chronological one (ml-100k stratified, any rating
and rating >= 4; per-user last 5 on ml-latest-small and ml-100k), the outer training side is split
again by the table's own inner protocol (stratified 90/10 seed 7, as ``movierec tune``; or each
user's last 5) and every grid point is fitted on the inner training side and scored by NDCG@10 on
the inner validation side: the outer test side is never read. A point's score is its mean NDCG@10
relative to the best point of each table. The demo profile's guarded list (Animation/Children and
Horror counts: the product's pinned scenario wants >= 5 family films and no horror) is reported
beside it. Everything else is the default ``HybridConfig``. Raw JSON:
``benchmarks/results/hybrid_selection.json``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from benchmarks.common import machine, save
from benchmarks.ranking import TABLES, _split
from movierec.data import load_movielens
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.evaluation.tuning import INNER_HOLDOUT
from movierec.models import Hybrid, HybridConfig
from movierec.models.ease import EaseConfig
from movierec.ranking.demo import demo_lists

WEIGHTS = (0.0, 0.25, 0.5, 1.0)
REGS = (250.0, 500.0)


def config(weight: float, reg: float) -> HybridConfig:
    return dataclasses.replace(HybridConfig(), ease_weight=weight, ease=EaseConfig(reg=reg, max_items=2000))


def main() -> None:
    inner, splits = {}, {}
    for table, dataset, outer_kind, inner_kind, threshold in TABLES:
        if table != "p3-100k-chrono":  # its inner split is ml-100k's last 5 again
            if (dataset, outer_kind) not in splits:
                outer = _split(load_movielens(dataset), outer_kind)
                splits[dataset, outer_kind] = _split(outer.train, inner_kind, seed=7, holdout=INNER_HOLDOUT)
            inner[table] = (splits[dataset, outer_kind], threshold)
    demo_data = load_movielens("ml-latest-small")
    rows: list[dict[str, Any]] = []
    for weight, reg in itertools.product(WEIGHTS, REGS):
        if weight == 0 and reg != REGS[0]:
            continue  # λ is unused without the term
        cfg = config(weight, reg)
        row: dict[str, Any] = {"ease_weight": weight, "ease_reg": reg}
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
    print("| EASE weight | EASE λ | " + " | ".join(inner) + " | score | demo family/horror |")
    print("|---|---|" + "---|" * len(inner) + "---|---|")
    for r in rows:
        cells = " | ".join(f"{r[t]:.4f}" for t in inner)
        demo = f"{r['demo family']}/{r['demo horror']}"
        print(f"| {r['ease_weight']:g} | {r['ease_reg']:g} | {cells} | {r['score']:.4f} | {demo} |")
    save("hybrid_selection", {"machine": machine(), "inner": {t: s.name for t, (s, _) in inner.items()}, "rows": rows})


if __name__ == "__main__":
    main()
