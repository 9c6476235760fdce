"""Top-10 ranking of the default model against the strongest simple methods, on identical rows.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.ranking [--out-name ranking]

Tables (every model of a table is fitted on the same training rows and scored on the same test
rows by ``movierec.evaluation.protocols.ranking_metrics``, pessimistic ties, top-10 unseen films):

1. ``p1`` ml-100k, Microsoft Recommenders' ``python_stratified_split`` (75/25 per user, seed 42,
   row-identical: ``recommenders-stratified``); relevance = any test rating.
2. ``p2`` the same split; relevance = a test rating >= 4 (what the user liked).
3. ``p3-mls-last5`` / ``p3-100k-last5``: each user's last 5 ratings by time held out;
   ``p3-100k-chrono``: ml-100k's global chronological 80/20 split, scored on returning users.

Models: most popular; ``ease`` with λ chosen on a validation split of the training side;
``als-implicit`` with λ and α chosen the same way (the "tuned implicit ALS" anchor); the default
``hybrid`` with its defaults (chosen once by ``movierec tune --model hybrid``, never here). The
validation split copies the outer protocol inside the training side (stratified 90/10 seed 7, as
``movierec tune``'s inner split, or the last 5 of each user). Each table gives NDCG@10, P@10, recall@10, MAP, coverage, the share of
slots on films with < 20 training ratings, and the paired user-bootstrap interval (1,000 draws)
of NDCG@10 of the default minus each other model; ``pooled`` pools every user of tables 2-3.
Raw JSON: ``benchmarks/results/NAME.json``. Public names only.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from typing import Any

import numpy as np

from benchmarks.common import machine, save
from movierec.data import Dataset, load_movielens
from movierec.evaluation.intervals import paired_mean_difference
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.evaluation.tuning import INNER_HOLDOUT
from movierec.evaluation.splits import Split, chrono_split, last_n_split, recommenders_stratified_split
from movierec.models import make_model

EASE_GRID = [{"reg": r} for r in (100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0)]
IALS_GRID = [{"reg": r, "alpha": a} for r, a in itertools.product((0.05, 0.2, 0.5, 1.0), (1.0, 3.0, 10.0))]
KEYS = ("ndcg", "precision", "recall", "map", "coverage", "obscure_share")


def _split(data: Dataset, kind: str, seed: int = 42, holdout: float = 0.25) -> Split:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-user last-n warns that it is not a global time split
        if kind == "stratified":
            return Split.from_mask(data, recommenders_stratified_split(data, holdout, seed), f"stratified {1 - holdout:.0%} seed {seed}")
        if kind == "last5":
            return Split.from_mask(data, last_n_split(data, 5), "last-5")
        mask, _ = chrono_split(data, 0.8)
        return Split.from_mask(data, mask, "chrono 80/20")


def _score(name: str, config: dict[str, Any] | None, split: Split, threshold: float | None) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    model = make_model(name, config).fit(split.train)
    fit = time.perf_counter() - t0
    options = EvalOptions(k=10, relevance_threshold=threshold, obscure_below=20)
    guard = model.policy.min_ratings
    metrics, _ = ranking_metrics(model, split.test, options, [guard], per_user=True)
    return {"min_ratings": guard, **metrics[guard]}, fit


def _tuned(name: str, grid: list[dict[str, Any]], inner: Split, threshold: float | None) -> dict[str, Any]:
    """The grid point with the best validation NDCG@10 (training side only)."""
    scores = [(_score(name, config, inner, threshold)[0]["ndcg"], i) for i, config in enumerate(grid)]
    return grid[max(scores)[1]]


TABLES: list[tuple[str, str, str, str, float | None]] = [
    # (table, dataset, outer split, inner split kind, relevance threshold)
    ("p1", "ml-100k", "stratified", "stratified", None),
    ("p2", "ml-100k", "stratified", "stratified", 4.0),
    ("p3-mls-last5", "ml-latest-small", "last5", "last5", None),
    ("p3-100k-last5", "ml-100k", "last5", "last5", None),
    ("p3-100k-chrono", "ml-100k", "chrono", "last5", None),
]


def run_table(table: str, dataset: str, outer_kind: str, inner_kind: str, threshold: float | None) -> dict[str, Any]:
    data = load_movielens(dataset)
    outer = _split(data, outer_kind)
    inner = _split(outer.train, inner_kind, seed=7, holdout=INNER_HOLDOUT)
    ease = _tuned("ease", EASE_GRID, inner, threshold)
    ials = _tuned("als-implicit", IALS_GRID, inner, threshold)
    entries = [("most popular", "popular", None), (f"ease (λ {ease['reg']:g}, tuned)", "ease", ease),
               (f"als-implicit (λ {ials['reg']:g}, α {ials['alpha']:g}, tuned)", "als-implicit", ials),
               ("hybrid (default)", "hybrid", None)]  # fmt: skip
    rows = []
    for label, name, config in entries:
        metrics, fit = _score(name, config, outer, threshold)
        rows.append({"label": label, "model": name, "config": config, "fit_seconds": fit, **metrics})
    default = rows[-1]
    for row in rows[:-1]:
        row["default_minus_this"] = paired_mean_difference(
            np.array(row["ndcg_per_user"]), np.array(default["ndcg_per_user"])
        ).to_dict()
    return {"dataset": dataset, "outer": outer.name, "inner": inner.name, "threshold": threshold,
            "n_test_rows": outer.test.n_ratings, "rows": rows}  # fmt: skip


def pooled(tables: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Default minus each anchor over every user of the given tables."""
    out = {}
    for model in ("ease", "als-implicit"):
        a, b = [], []
        for t in names:
            rows = {r["model"]: r for r in tables[t]["rows"]}
            a += rows[model]["ndcg_per_user"]
            b += rows["hybrid"]["ndcg_per_user"]
        out[model] = paired_mean_difference(np.array(a), np.array(b)).to_dict()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-name", default="ranking")
    parser.add_argument("--tables", nargs="+", default=[t[0] for t in TABLES])
    args = parser.parse_args()
    tables = {}
    for spec in TABLES:
        if spec[0] in args.tables:
            tables[spec[0]] = run_table(*spec)
            _print(spec[0], tables[spec[0]])
    later = [t for t in tables if t != "p1"]
    result: dict[str, Any] = {"machine": machine(), "tables": tables}
    if later:
        result["pooled"] = {"tables": later, **pooled(tables, later)}
        print(f"\npooled over {', '.join(later)}: " + ", ".join(f"default − {m} {_fmt(v)}" for m, v in result["pooled"].items() if m != "tables"))
    for t in tables.values():
        for r in t["rows"]:
            r["ndcg_per_user"] = [round(x, 6) for x in r["ndcg_per_user"]]
    save(args.out_name, result)


def _fmt(iv: dict[str, float]) -> str:
    return f"{iv['difference']:+.4f} [{iv['low']:+.4f}, {iv['high']:+.4f}]"


def _print(name: str, table: dict[str, Any]) -> None:
    print(f"\n### {name}: {table['dataset']}, {table['outer']}, relevance {'≥ ' + str(table['threshold']) if table['threshold'] else 'any rating'}\n")
    print("| model | " + " | ".join(KEYS) + " | default − this (NDCG@10) |")
    print("|---" * (len(KEYS) + 2) + "|")
    for r in table["rows"]:
        diff = _fmt(r["default_minus_this"]) if "default_minus_this" in r else ""
        print(f"| {r['label']} | " + " | ".join(f"{r[k]:.4f}" for k in KEYS) + f" | {diff} |")


if __name__ == "__main__":
    main()
