"""Issue 5's ladder: RMSE of each temporal rung on chronological splits, spread over seeds.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.temporal [--seeds 3]

Datasets ml-100k and ml-latest-small; protocols ``chrono`` (global cutoff at
80% of the ratings: no future rating trains the model) and ``last-n`` (each
user's last 5 ratings by time). Rungs (Koren 2009, Table 2 order): static
biases, + item time bins, + user drift, + factors (static ALS), all together.
Every rung uses the same default configuration (same factors, same λ, same
iterations), and the seed only moves the factors' initialisation. Also times
the static ``ALS`` against the full temporal model (target: within 1.5x).
Raw JSON goes to ``benchmarks/results/temporal.json``; Markdown to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from movierec.config import ALSConfig
from movierec.evaluation.protocols import SplitOptions, make_splits
from movierec.models import ALS, TemporalALS
from movierec.models.temporal import ladder_configs

RESULTS = Path(__file__).resolve().parent / "results"


def rmse(model: ALS, test: Any) -> tuple[float, float]:
    r = test.ratings
    p = model.predict(r["user_id"].to_list(), r["movie_id"].to_list(), r["timestamp"].to_numpy())
    return float(np.sqrt(np.mean((p.rating - r["rating"].to_numpy()) ** 2))), float(p.cold_start.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    out: dict[str, Any] = {}
    for data in ("ml-100k", "ml-latest-small"):
        for protocol, opts in (("chrono", SplitOptions(cutoff="0.8")), ("last-n", SplitOptions(last_n=5))):
            split = next(make_splits(data, protocol, opts))
            table: dict[str, Any] = {}
            for rung, cfg in ladder_configs().items():
                vals, cold = [], 0.0
                for seed in range(args.seeds):
                    c = dataclasses.replace(cfg, explicit=dataclasses.replace(cfg.explicit, random_state=seed))
                    e, cold = rmse(TemporalALS(c).fit(split.train), split.test)
                    vals.append(e)
                table[rung] = {"rmse_mean": float(np.mean(vals)), "rmse_std": float(np.std(vals)), "rmse": vals, "cold_share": cold}
            times = {}
            for label, make in (("als", lambda: ALS(ALSConfig())), ("als-time", lambda: TemporalALS())):
                make().fit(split.train)  # warm: JIT compiled
                t0 = time.perf_counter()
                make().fit(split.train)
                times[label] = time.perf_counter() - t0
            out[f"{data} {protocol}"] = {"ladder": table, "fit_seconds": times, "train": split.train.summary(), "n_test": split.test.n_ratings}
            print(f"\n### {data}, {protocol} (test {split.test.n_ratings:,} ratings, cold-start share {cold:.1%})\n")
            print("| rung | RMSE mean | std over seeds |")
            print("|---|---|---|")
            for rung, v in table.items():
                print(f"| {rung} | {v['rmse_mean']:.4f} | {v['rmse_std']:.4f} |")
            print(f"\nfit time: ALS {times['als']:.2f} s, als-time {times['als-time']:.2f} s (ratio {times['als-time'] / times['als']:.2f})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "temporal.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
