"""Issue 5's ladder: RMSE of each temporal rung on chronological splits, spread over seeds.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.temporal [--seeds 3] [--trials 20] [--time-reps 3]

Datasets ml-100k and ml-latest-small; protocols ``chrono`` (global cutoff at
80% of the ratings: no future rating trains the model) and ``last-n`` (each
user's last 5 ratings by time). Three parts per split:

1. Ladder (Koren 2009, Table 2 order): static biases, + item time bins, + user
   drift, + factors (static ALS), all together. Every rung uses the same
   default configuration; the seed only moves the factors' initialisation.
   RMSE is also given on warm pairs (user and film known) and cold pairs, and
   each bias rung gets a paired user-bootstrap interval against the rung below.
   Every RMSE and interval is taken on each test pair's squared error averaged
   over the seeds (``over_seeds``).
2. Tuned, same budget: static ``ALS`` and the full ``TemporalALS`` each get
   ``--trials`` Optuna TPE trials on an inner split of the *training* data of
   the same kind (chrono: the training data's last 20% by time; last-n: each
   training user's last 5), with the same fixed factors (64) and sweeps (10).
   Static searches reg and bias_reg; temporal also reg_bin, reg_drift, beta,
   and whether to fit c_u (with reg_scale).
   The chosen configurations are refitted on the whole training side and
   scored on the test side over the seeds, with a paired bootstrap over test
   users of the RMSE difference (the noise that matters on these small test
   sets; the seed spread is far smaller).
3. Warm fit times: both models fitted once to compile the kernels, then
   ``--time-reps`` fits of each, alternated; medians and their ratio
   (target: all temporal terms on within 1.5x of static). Measure on a quiet
   machine: the numbers from a shared one are noise.

Raw JSON goes to ``benchmarks/results/temporal.json``; Markdown to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from movierec.config import ALSConfig
from movierec.data.dataset import Dataset
from movierec.evaluation.intervals import paired_rmse_difference
from movierec.evaluation.protocols import SplitOptions, make_splits
from movierec.evaluation.splits import Split, chrono_split, last_n_split
from movierec.models import ALS, TemporalALS, TemporalConfig
from movierec.models.base import Recommender
from movierec.models.temporal import ladder_configs

RESULTS = Path(__file__).resolve().parent / "results"
PROTOCOLS = {"chrono": SplitOptions(cutoff="0.8"), "last-n": SplitOptions(last_n=5)}


def score(model: Recommender, test: Dataset) -> dict[str, Any]:
    """RMSE on all, warm and cold test pairs at each rating's own timestamp, and the squared errors."""
    r = test.ratings
    p = model.predict(r["user_id"].to_list(), r["movie_id"].to_list(), r["timestamp"].to_numpy())
    sq = (p.rating.astype(np.float64) - r["rating"].to_numpy()) ** 2
    cold = p.cold_start
    return {
        "rmse": float(np.sqrt(sq.mean())),
        "rmse_warm": float(np.sqrt(sq[~cold].mean())) if (~cold).any() else float("nan"),
        "rmse_cold": float(np.sqrt(sq[cold].mean())) if cold.any() else float("nan"),
        "cold_share": float(cold.mean()),
        "sq": sq,
        "cold": cold,
    }


def paired_bootstrap(sq_a: np.ndarray, sq_b: np.ndarray, users: np.ndarray) -> list[float]:
    """95% interval of RMSE(b) − RMSE(a), resampling test users (``movierec.evaluation.intervals``)."""
    ci = paired_rmse_difference(sq_a, sq_b, users, n_draws=2000, seed=0)
    return [ci.low, ci.high]


def inner_split(train: Dataset, protocol: str) -> Split:
    """A validation split of the training data of the same kind as the outer one (no test data used)."""
    if protocol == "chrono":
        mask, epoch = chrono_split(train, 0.8)
        return Split.from_mask(train, mask, "inner chrono", cutoff_epoch=epoch)
    n = PROTOCOLS["last-n"].last_n
    return Split.from_mask(train, last_n_split(train, n), f"inner last-{n}", n=n)


def suggest(trial: Any, temporal: bool, seed: int | None = 0, hindsight: bool = False) -> TemporalConfig:
    """One Optuna trial's configuration: static ALS (λ, λ_b) or ``als-time`` (also λ_bin, λ_α, β, c_u and λ_c).

    ``hindsight`` (``benchmarks.temporal_limits``) also searches the number of
    item time bins and reaches larger penalties; ``seed`` None keeps the
    configuration's default factor seed.
    """
    explicit = ALSConfig(
        reg=trial.suggest_float("reg", 0.02, 0.5, log=True),
        bias_reg=trial.suggest_float("bias_reg", 0.001, 0.5, log=True),
        **({} if seed is None else {"random_state": seed}),
    )
    if not temporal:
        return TemporalConfig(explicit=explicit, item_time_bins=0, user_drift=False)
    user_scale = trial.suggest_categorical("user_scale", [False, True])
    return TemporalConfig(
        explicit=explicit,
        item_time_bins=trial.suggest_int("bins", 1, 60, log=True) if hindsight else TemporalConfig.item_time_bins,
        reg_bin=trial.suggest_float("reg_bin", 1.0, 1e5 if hindsight else 1e4, log=True),
        reg_drift=trial.suggest_float("reg_drift", 10.0, 1e6 if hindsight else 1e5, log=True),
        beta=trial.suggest_float("beta", 0.1, 0.8),
        user_scale=user_scale,
        reg_scale=trial.suggest_float("reg_scale", 1.0, 1e3, log=True) if user_scale else TemporalConfig.reg_scale,
    )


def first_trial(temporal: bool, hindsight: bool = False) -> dict[str, Any]:
    """The shipped defaults as a trial, enqueued first: tuning can only match or improve them."""
    defaults = TemporalConfig()
    first: dict[str, Any] = {"reg": defaults.explicit.reg, "bias_reg": defaults.explicit.bias_reg}
    if temporal:
        first |= {"reg_bin": defaults.reg_bin, "reg_drift": defaults.reg_drift, "beta": defaults.beta, "user_scale": False}
        first |= {"bins": defaults.item_time_bins} if hindsight else {}
    return first


def tune(temporal: bool, split: Split, n_trials: int, seed: int = 0) -> tuple[TemporalConfig, float]:
    """Optuna TPE search on ``split`` (inner, training data only); the best config and its validation RMSE."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        return score(TemporalALS(suggest(trial, temporal, seed)).fit(split.train), split.test)["rmse"]

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(first_trial(temporal))
    study.optimize(objective, n_trials=n_trials)
    return suggest(optuna.trial.FixedTrial(study.best_params), temporal, seed), float(study.best_value)


def seeded(cfg: TemporalConfig, seed: int) -> TemporalConfig:
    return dataclasses.replace(cfg, explicit=dataclasses.replace(cfg.explicit, random_state=seed))


def over_seeds(make: Callable[[int], Recommender], split: Split, seeds: Sequence[int]) -> dict[str, Any]:
    """Fit ``make(seed)`` once per seed; each test pair's squared error averaged over the seeds.

    ``rmse`` and ``sq`` (what the paired intervals are taken on) are those of that average: the expected
    error of one default fit, not of one seed's draw of it (a bootstrap over users does not see the
    seed's noise). ``rmse_per_seed`` and ``rmse_std`` give the spread.
    """
    runs = [score(make(s).fit(split.train), split.test) for s in seeds]
    sq = np.mean([r["sq"] for r in runs], axis=0)
    cold = runs[0]["cold"]  # the same pairs in every run
    per_seed = [r["rmse"] for r in runs]
    return {
        "seeds": list(seeds), "rmse": float(np.sqrt(sq.mean())), "rmse_per_seed": per_seed,
        "rmse_std": float(np.std(per_seed)), "cold_share": float(cold.mean()), "sq": sq,
        "rmse_warm": float(np.sqrt(sq[~cold].mean())) if (~cold).any() else float("nan"),
        "rmse_cold": float(np.sqrt(sq[cold].mean())) if cold.any() else float("nan"),
    }  # fmt: skip


def fit_times(train: Dataset, reps: int) -> dict[str, Any]:
    """Warm fit seconds of static ALS, default TemporalALS and TemporalALS with c_u, alternated; medians, ratios."""
    makers: dict[str, Callable[[], Recommender]] = {
        "als": lambda: ALS(ALSConfig()),
        "als-time": lambda: TemporalALS(),
        "als-time+c_u": lambda: TemporalALS(TemporalConfig(user_scale=True)),
    }
    for make in makers.values():
        make().fit(train)  # warm-up: kernels compiled, caches filled
    times: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(reps):
        for label, make in makers.items():
            t0 = time.perf_counter()
            make().fit(train)
            times[label].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {"seconds": times, "median": med, "ratio": med["als-time"] / med["als"], "ratio_c_u": med["als-time+c_u"] / med["als"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=20, help="Optuna trials per model (same for both); 0 skips tuning")
    ap.add_argument("--time-reps", type=int, default=3, help="timed warm fits per model (median reported)")
    ap.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-latest-small"])
    args = ap.parse_args()
    out: dict[str, Any] = {}
    for data in args.datasets:
        for protocol, opts in PROTOCOLS.items():
            split = next(make_splits(data, protocol, opts))
            users = split.test.ratings["user_id"].to_numpy()
            table = {rung: over_seeds(lambda s, c=cfg: TemporalALS(seeded(c, s)), split, range(args.seeds)) for rung, cfg in ladder_configs().items()}
            a, b = table["+ factors (static)"]["sq"], table["all together"]["sq"]
            c = table["+ user scale c_u"]["sq"]
            entry: dict[str, Any] = {
                "ladder": table,
                "default_diff_ci95": paired_bootstrap(a, b, users),
                "c_u_diff_ci95": paired_bootstrap(a, c, users),
                # Each bias rung against the rung below it: "does not make things worse beyond noise".
                "rung_diff_ci95": {
                    rung: paired_bootstrap(table[below]["sq"], table[rung]["sq"], users)
                    for below, rung in (("static biases", "+ item time bins"), ("+ item time bins", "+ user drift"))
                },
            }
            if args.trials:
                inner = inner_split(split.train, protocol)
                tuned: dict[str, Any] = {}
                for label, temporal in (("als", False), ("als-time", True)):
                    cfg, val = tune(temporal, inner, args.trials)
                    if temporal:
                        make: Callable[[int], Recommender] = lambda s, c=cfg: TemporalALS(seeded(c, s))  # noqa: E731
                    else:
                        make = lambda s, c=cfg: ALS(seeded(c, s).explicit)  # noqa: E731
                    chosen = cfg.to_dict() if temporal else cfg.explicit.to_dict()
                    tuned[label] = {"config": chosen, "inner_rmse": val, **over_seeds(make, split, range(args.seeds))}
                entry["tuned"] = tuned
                entry["tuned_diff_ci95"] = paired_bootstrap(tuned["als"]["sq"], tuned["als-time"]["sq"], users)
            entry["fit_seconds"] = fit_times(split.train, args.time_reps)
            entry |= {"train": split.train.summary(), "n_test": split.test.n_ratings}
            out[f"{data} {protocol}"] = entry
            report(f"{data} {protocol}", entry)
    for entry in out.values():
        for part in (entry["ladder"], entry.get("tuned", {})):
            for v in part.values():
                v.pop("sq")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "temporal.json").write_text(json.dumps(out, indent=2))


def report(name: str, e: dict[str, Any]) -> None:
    cold = e["ladder"]["all together"]["cold_share"]
    print(f"\n### {name} (test {e['n_test']:,} ratings, cold-start share {cold:.1%})\n")
    print("| rung | RMSE (seeds' mean squared error) | std over seeds | warm | cold |")
    print("|---|---|---|---|---|")
    rows = list(e["ladder"].items()) + [(f"tuned {k}", v) for k, v in e.get("tuned", {}).items()]
    for rung, v in rows:
        print(f"| {rung} | {v['rmse']:.4f} | {v['rmse_std']:.4f} | {v['rmse_warm']:.4f} | {v['rmse_cold']:.4f} |")
    lo, hi = e["default_diff_ci95"]
    print(f"\nall together − static ALS, defaults: 95% user-bootstrap interval [{lo:+.4f}, {hi:+.4f}]")
    for rung, (lo, hi) in e["rung_diff_ci95"].items():
        print(f"{rung} − the rung below: 95% user-bootstrap interval [{lo:+.4f}, {hi:+.4f}]")
    lo, hi = e["c_u_diff_ci95"]
    print(f"all together + c_u − static ALS, defaults: 95% user-bootstrap interval [{lo:+.4f}, {hi:+.4f}]")
    if "tuned" in e:
        lo, hi = e["tuned_diff_ci95"]
        print(f"tuned als-time − tuned als: 95% user-bootstrap interval [{lo:+.4f}, {hi:+.4f}]")
    f = e["fit_seconds"]
    m = f["median"]
    print(f"warm fit time (median): ALS {m['als']:.2f} s, als-time {m['als-time']:.2f} s (ratio {f['ratio']:.2f}), "
          f"with c_u {m['als-time+c_u']:.2f} s (ratio {f['ratio_c_u']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
