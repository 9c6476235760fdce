"""Issue 5: what limits the time terms on a global chronological split: a hindsight bound and a cutoff sweep.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.temporal_limits [--trials 60]

Not an evaluation protocol: both models are tuned **on the test ratings
themselves** (hindsight), which no honest protocol may do. That makes it an
upper bound on what any choice of settings could give each model on that
split, and so a test of whether the time terms *can* lower the RMSE there at
all. ``benchmarks.temporal`` is the honest comparison (tuned on an inner split
of the training side).

Three parts per dataset (parts 1-2 at the global cutoff at 80% of the
ratings, as in ``benchmarks.temporal``):

1. Joint search: ``--trials`` Optuna TPE trials per model, both on the test
   RMSE. Static ALS searches λ and λ_b; ``als-time`` also the number of item
   time bins (1-60), λ_bin, λ_α, β and c_u (with λ_c). Its ranges reach far
   enough that the time terms can shrink to nothing, so the temporal optimum
   can match the static one; the question is whether it can beat it.
2. Grid profile: λ and λ_b fixed at static ALS's hindsight optimum; every
   combination of bins {1, 2, 4, 8, 15, 30}, λ_bin {10, 30, 100, 300, 1000,
   10⁴} and λ_α {100, 1000, 10⁴, drift off}, β 0.4: the best and the spread,
   and the best with at least two bins (one "bin" is only a second item bias
   with its own penalty, not a time effect).
3. Cutoff sweep (honest, no tuning): both models with their defaults at
   global cutoffs from 60% to 95% of the ratings, with the paired
   user-bootstrap interval of the difference: does the verdict depend on
   where the training data end?

Raw JSON goes to ``benchmarks/results/temporal-limits.json``; Markdown to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
from typing import Any

import numpy as np

from benchmarks.temporal import PROTOCOLS, RESULTS, first_trial, paired_bootstrap, score, suggest
from movierec.config import ALSConfig
from movierec.evaluation.protocols import SplitOptions, make_splits
from movierec.evaluation.splits import Split
from movierec.models import ALS, TemporalALS, TemporalConfig

CUTOFFS = ("0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95")
GRID = {"bins": (1, 2, 4, 8, 15, 30), "reg_bin": (10.0, 30.0, 100.0, 300.0, 1000.0, 1e4), "reg_drift": (100.0, 1000.0, 1e4, None)}


def search(split: Split, temporal: bool, n_trials: int) -> tuple[TemporalConfig, dict[str, Any]]:
    """TPE search on the test side (hindsight); the best configuration and its test scores."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial(first_trial(temporal, hindsight=True))
    study.optimize(
        lambda trial: score(TemporalALS(suggest(trial, temporal, None, hindsight=True)).fit(split.train), split.test)["rmse"],
        n_trials=n_trials,
    )
    cfg = suggest(optuna.trial.FixedTrial(study.best_params), temporal, None, hindsight=True)
    return cfg, score(TemporalALS(cfg).fit(split.train), split.test)


def profile(split: Split, explicit: ALSConfig) -> list[dict[str, Any]]:
    """Test RMSE of every grid setting of the time terms around fixed λ, λ_b."""
    rows = []
    for bins, reg_bin, reg_drift in itertools.product(*GRID.values()):
        cfg = TemporalConfig(explicit=explicit, item_time_bins=bins, reg_bin=reg_bin,
                             user_drift=reg_drift is not None, reg_drift=reg_drift or TemporalConfig.reg_drift)  # fmt: skip
        rows.append({"bins": bins, "reg_bin": reg_bin, "reg_drift": reg_drift, "rmse": score(TemporalALS(cfg).fit(split.train), split.test)["rmse"]})
    return rows


def sweep(data: str) -> list[dict[str, Any]]:
    """Default static ALS and ``als-time`` at each global cutoff in ``CUTOFFS``."""
    rows = []
    for cutoff in CUTOFFS:
        split = next(make_splits(data, "chrono", SplitOptions(cutoff=cutoff)))
        users = split.test.ratings["user_id"].to_numpy()
        static, timed = score(ALS(ALSConfig()).fit(split.train), split.test), score(TemporalALS().fit(split.train), split.test)
        date = dt.datetime.fromtimestamp(int(split.info["cutoff_epoch"]), dt.timezone.utc).date().isoformat()
        rows.append({
            "cutoff": float(cutoff), "cutoff_date": date, "n_test": split.test.n_ratings, "cold_share": static["cold_share"],
            "static": static["rmse"], "als-time": timed["rmse"], "diff_ci95": paired_bootstrap(static["sq"], timed["sq"], users),
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=60, help="Optuna trials per model, on the test side")
    ap.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    args = ap.parse_args()
    out: dict[str, Any] = {}
    for data in args.datasets:
        split = next(make_splits(data, "chrono", PROTOCOLS["chrono"]))
        users = split.test.ratings["user_id"].to_numpy()
        static_cfg, static = search(split, False, args.trials)
        time_cfg, timed = search(split, True, args.trials)
        grid = profile(split, static_cfg.explicit)
        out[data] = {
            "static": {"config": static_cfg.explicit.to_dict(), **{k: v for k, v in static.items() if k != "sq"}},
            "als-time": {"config": dataclasses.asdict(time_cfg), **{k: v for k, v in timed.items() if k != "sq"}},
            "diff_ci95": paired_bootstrap(static["sq"], timed["sq"], users), "grid": grid,
            "n_trials": args.trials, "n_test": split.test.n_ratings, "sweep": sweep(data),
        }  # fmt: skip
    report(out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "temporal-limits.json").write_text(json.dumps(out, indent=2))


def report(out: dict[str, Any]) -> None:
    print("| 80% chrono split, tuned on its test side | static ALS | `als-time` | difference [95% interval] | grid best (setting) | grid best, ≥ 2 bins | grid median / worst |")
    print("|---|---|---|---|---|---|---|")
    for data, e in out.items():
        g = e["grid"]
        best = min(g, key=lambda r: r["rmse"])
        two = min(r["rmse"] for r in g if r["bins"] >= 2)
        rm = np.array([r["rmse"] for r in g])
        s, t, (lo, hi) = e["static"]["rmse"], e["als-time"]["rmse"], e["diff_ci95"]
        print(f"| {data} | {s:.4f} | {t:.4f} | {t - s:+.4f} [{lo:+.4f}, {hi:+.4f}] | {best['rmse']:.4f} ({best['bins']} bins, "
              f"λ_bin {best['reg_bin']:g}, λ_α {'off' if best['reg_drift'] is None else format(best['reg_drift'], 'g')}) | "
              f"{two:.4f} | {np.median(rm):.4f} / {rm.max():.4f} |")  # fmt: skip
    print("\n| dataset | cutoff | cutoff date | test ratings | cold share | static ALS | `als-time` | difference [95% interval] |")
    print("|---|---|---|---|---|---|---|---|")
    for data, e in out.items():
        for r in e["sweep"]:
            lo, hi = r["diff_ci95"]
            print(f"| {data} | {r['cutoff']:.2f} | {r['cutoff_date']} | {r['n_test']:,} | {r['cold_share']:.0%} | {r['static']:.4f} | "
                  f"{r['als-time']:.4f} | {r['als-time'] - r['static']:+.4f} [{lo:+.4f}, {hi:+.4f}] |")  # fmt: skip


if __name__ == "__main__":
    main()
