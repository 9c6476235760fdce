"""Issue 9's table: top-10 ranking quality of every model, with beyond-accuracy numbers.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.ranking

1. ml-100k, Microsoft Recommenders' protocol: per-user stratified 75/25
   (seed 42), top-10 unseen films, relevance = any test rating.
2. ml-latest-small, per-user last-n by time (each user's last 5 ratings held
   out: the future of each user).

Models: most-popular, explicit ALS without a guard, explicit ALS with its
default guard (min_ratings=20), implicit ALS, and the hybrid default (its own
guard, min_ratings=5). Raw JSON goes to ``benchmarks/results/ranking.json``;
a Markdown table to stdout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from movierec.evaluation.protocols import EvalOptions, SplitOptions, run_protocol

RESULTS = Path(__file__).resolve().parent / "results"

# (label, model name, guard: None = the model's own default)
ENTRIES: list[tuple[str, str, int | None]] = [
    ("most popular", "popular", 0),
    ("als (no guard)", "als", 0),
    ("als + guard (20)", "als", None),
    ("als-implicit", "als-implicit", 0),
    ("hybrid (default)", "hybrid", None),
]

SETUPS: list[tuple[str, str, SplitOptions]] = [
    ("ml-100k", "stratified", SplitOptions(test_fraction=0.25, seed=42)),
    ("ml-latest-small", "last-n", SplitOptions(last_n=5, seed=42)),
]

KEYS = ("ndcg", "ndcg_graded", "precision", "recall", "map", "coverage", "novelty", "avg_popularity", "obscure_share")


def main() -> None:
    out: dict[str, Any] = {}
    for data, protocol, split_options in SETUPS:
        rows = []
        for label, name, guard in ENTRIES:
            t0 = time.perf_counter()
            result = run_protocol(data, protocol, [name], split_options=split_options, options=EvalOptions(k=10, min_ratings=guard))
            summary = result.summary()[0]
            rows.append({"label": label, "model": name, "seconds": time.perf_counter() - t0, **summary})
        out[f"{data} {protocol}"] = rows
        print(f"\n### {data}, {protocol}\n")
        print("| model | " + " | ".join(KEYS) + " | min_ratings |")
        print("|---" * (len(KEYS) + 2) + "|")
        for r in rows:
            cells = [f"{r.get(k):.4f}" if isinstance(r.get(k), float) else str(r.get(k)) for k in KEYS]
            print(f"| {r['label']} | " + " | ".join(cells) + f" | {r.get('min_ratings')} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ranking.json").write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
