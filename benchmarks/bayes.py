"""Issue 4's RMSE target on ml-100k u1-u5: Gibbs-sampled Bayesian MF ("als-bayes") against ALS.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.bayes [--sections select default nested ensemble]

Sections (each only looks at a fold's test file to score the model it chose without it):

* ``select`` — how the default ``n_factors`` was fixed: 3-fold CV inside u1.base
  (seed 7) over ``--grid``; u1.test is never read.
* ``default`` — the default ``BayesConfig`` (or ``--config``) on u1..u5 through the
  evaluation harness (``run_protocol``, same clipping and cold-start rules as every
  row of the README table), with default ALS in the same run.
* ``nested`` — per fold k, ``n_factors`` chosen on an inner 80/20 split of
  u{k}.base (``random_split``, seed 42), refitted on u{k}.base, scored on u{k}.test.
* ``ensemble`` — idea (c): the average of 5 ALS-WR fits (seeds 0..4), default config.
* ``time`` — issue 20: ``als-bayes-time`` (Bayesian timeSVD++, default config) on ml-100k u1..u5 and on
  ml-latest-small's random 80/20 split of the peers (``benchmarks.common.prepare``: seed 42), each with
  N(u) = the training films only, and again with the test pairs' films added to N(u) without their
  ratings (``fit(train, implicit=test)``, the papers' protocol); ``als-bayes`` and ``als`` in the same
  run. Every test pair is scored (cold pairs by the models' fallbacks), clipped to the scale; fit
  seconds with the 1-minute load average beside each.
* ``inner`` — issue 20: ``--inner-configs`` (a JSON list of ``als-bayes-time`` configs) on the inner
  validation split of u1.base (random 80/20, seed 42), where its defaults are chosen; u1.test unseen.
* ``days`` — issue 20: the per-day user bias on and off on u1, scored at each rating's own time, one
  day later and with no timestamps (what a day not seen in training, and every served score, gets).
* ``foldin`` — issue 20: ``als-bayes-time`` (default) fitted on u1.base; 200 training users folded in
  from their own ratings and dates (``fold_in``), median milliseconds per user, and the RMS difference
  of their folded-in scores from their stored ones.
* ``ladder`` — issue 20: the temporal ladder of ``benchmarks.temporal`` (ml-100k and ml-latest-small;
  global chronological cutoff at 80% and each user's last 5) rerun with ``als-bayes-time``'s rungs, each
  rung adding one term to the one above; a paired user-bootstrap 95% interval of RMSE(rung) − RMSE(rung
  above) (``benchmarks.temporal.paired_bootstrap``), each pair's squared error averaged over the chain
  seeds of ``--ladder-seeds``.

Raw JSON goes to ``benchmarks/results/bayes.json``; Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from benchmarks.evaluation import machine, save, table
from movierec.data.dataset import Dataset
from movierec.evaluation.protocols import EvalOptions, run_protocol
from movierec.evaluation.splits import kfold_labels, ml100k_folds, random_split
from movierec.models import make_model


def rmse(raw: np.ndarray, test: Dataset, low: float, high: float) -> float:
    """RMSE of predictions clipped to the scale, as the harness computes it."""
    return float(np.sqrt(np.mean((np.clip(raw, low, high) - test.ratings["rating"].to_numpy()) ** 2)))


def fit_score(name: str, config: dict[str, Any], train: Dataset, test: Dataset) -> tuple[float, np.ndarray]:
    model = make_model(name, config).fit(train)
    raw = model.predict(test.ratings["user_id"].to_list(), test.ratings["movie_id"].to_list()).raw
    return rmse(raw, test, train.scale.low, train.scale.high), raw


def bayes_cfg(k: int) -> dict[str, Any]:
    return {"explicit": {"n_factors": k}}


def select(grid: list[int]) -> dict[str, Any]:
    """3-fold CV inside u1.base only."""
    base = next(ml100k_folds("ml-100k", (1,))).train
    labels = kfold_labels(base, 3, seed=7)
    out: dict[str, Any] = {}
    for k in grid:
        scores = []
        for f in range(3):
            scores.append(fit_score("als-bayes", bayes_cfg(k), base.subset(labels != f), base.subset(labels == f))[0])
        out[str(k)] = {"cv_rmse": float(np.mean(scores)), "folds": scores}
        print(f"select: n_factors {k}: 3-fold CV on u1.base {np.mean(scores):.4f}", flush=True)
    return out


def default(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """u1..u5 through the harness: default ALS and als-bayes (``config``: a BayesConfig dict, default {})."""
    configs = {"als-bayes": config or {}}
    res = run_protocol("ml-100k", "ml100k-folds", ["als", "als-bayes"], configs, options=EvalOptions(guard_grid=()))
    return res.to_dict() | {"config": config or {}}


def nested(grid: list[int]) -> list[dict[str, Any]]:
    rows = []
    for split in ml100k_folds("ml-100k"):
        t0 = time.perf_counter()
        mask = random_split(split.train, 0.2, seed=42)
        inner_train, inner_val = split.train.subset(~mask), split.train.subset(mask)
        inner = {k: fit_score("als-bayes", bayes_cfg(k), inner_train, inner_val)[0] for k in grid}
        best = min(inner, key=lambda k: inner[k])
        test = fit_score("als-bayes", bayes_cfg(best), split.train, split.test)[0]
        rows.append({"fold": split.name, "n_factors": best, "inner_rmse": inner[best], "rmse": test,
                     "inner": {str(k): v for k, v in inner.items()}, "seconds": time.perf_counter() - t0})  # fmt: skip
        print(f"nested {split.name}: n_factors {best} (inner {inner[best]:.4f}) test {test:.4f}", flush=True)
    return rows


def ensemble(n_seeds: int = 5) -> list[dict[str, Any]]:
    rows = []
    for split in ml100k_folds("ml-100k"):
        raws = [fit_score("als", {"random_state": s}, split.train, split.test)[1] for s in range(n_seeds)]
        lo, hi = split.train.scale.low, split.train.scale.high
        single = rmse(raws[0], split.test, lo, hi)
        avg = rmse(np.mean(raws, axis=0), split.test, lo, hi)
        rows.append({"fold": split.name, "rmse": avg, "rmse_seed0": single})
        print(f"ensemble {split.name}: {avg:.4f} (seed 0 alone {single:.4f})", flush=True)
    return rows


def scored(
    name: str, config: dict[str, Any], train: Dataset, test: Dataset, extra: bool = False, **fit_args: Any
) -> dict[str, Any]:
    """Fit (with the test films in N(u) when ``extra``), then RMSE over every test pair with its timestamp."""
    model = make_model(name, config)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    model.fit(train, implicit=test, **fit_args) if extra else model.fit(train, **fit_args)
    seconds = time.perf_counter() - t0
    r = test.ratings
    raw = model.predict(r["user_id"].to_list(), r["movie_id"].to_list(), r["timestamp"].to_numpy()).raw
    return {"rmse": rmse(raw, test, train.scale.low, train.scale.high), "fit_s": seconds,
            "load_1min": [load, os.getloadavg()[0]]}  # fmt: skip


FILMS = {"item_attributes": True}
TIME_RUNS = [  # label, model, config, test films in N(u), user attributes
    ("als-bayes-time", "als-bayes-time", {}, False, False),
    ("als-bayes-time (test films in N(u))", "als-bayes-time", {}, True, False),
    ("als-bayes-time + film attributes", "als-bayes-time", FILMS, False, False),
    ("als-bayes-time + user and film attributes", "als-bayes-time", FILMS, False, True),
    ("als-bayes", "als-bayes", {}, False, False),
    ("als", "als", {}, False, False),
]


def time_section() -> list[dict[str, Any]]:
    """Issue 20: als-bayes-time with and without the test films in N(u) and the attribute groups,
    against als-bayes and als."""
    from movierec.data import load_movielens, load_user_attributes

    users = load_user_attributes("ml-100k")
    splits = [(f"ml-100k {s.name}", s.train, s.test, users) for s in ml100k_folds("ml-100k")]
    full = load_movielens("ml-latest-small")
    mask = np.random.default_rng(42).random(full.n_ratings) < 0.2  # benchmarks.common.prepare's split
    splits.append(("ml-latest-small random 80/20", full.subset(~mask), full.subset(mask), None))  # no user attributes
    rows = []
    for label, train, test, attrs in splits:
        for model_label, name, config, extra, with_users in TIME_RUNS:
            if with_users and attrs is None:
                continue
            row = {"split": label, "model": model_label}
            row |= scored(name, config, train, test, extra, **({"user_attributes": attrs} if with_users else {}))
            rows.append(row)
            print(f"time: {label} {row['model']}: {row['rmse']:.4f} fit {row['fit_s']:.1f} s "
                  f"(load {row['load_1min'][0]:.1f})", flush=True)  # fmt: skip
    return rows


STATIC = {"implicit": False, "flipped": False, "user_day_bias": False,
          "temporal": {"item_time_bins": 0, "user_drift": False}}  # fmt: skip
LADDER = {
    "Bayesian MF (no time, no implicit terms)": STATIC,
    "+ item time bins": {**STATIC, "temporal": {"user_drift": False}},
    "+ user drift": {**STATIC, "temporal": {}},
    "+ N(u) term (SVD++)": {"flipped": False, "user_day_bias": False},
    "+ flipped term": {"user_day_bias": False},
    "+ per-day user bias (default als-bayes-time)": {},
}


def seeded(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """An als-bayes-time config with its chain seed (the ALS start's ``random_state``) set."""
    temporal = config.get("temporal", {})
    return {**config, "temporal": {**temporal, "explicit": {**temporal.get("explicit", {}), "random_state": seed}}}


def ladder_section(seeds: list[int]) -> list[dict[str, Any]]:
    """The issue-5 ladder's splits, rungs of als-bayes-time, each against the rung above (paired bootstrap).

    Every rung is fitted once per chain seed (``random_state``). A rung's ``rmse`` and its interval
    are those of the squared error of each test pair averaged over the seeds: the expected error of
    one default chain, not of one draw of it (with one seed, the ml-100k chrono "+ N(u)" cell moved
    from [+0.0004, +0.0052] to [−0.0010, +0.0031] with the seed alone).
    """
    from benchmarks.temporal import PROTOCOLS, over_seeds, paired_bootstrap
    from movierec.evaluation.protocols import make_splits

    rows = []
    for data in ("ml-100k", "ml-latest-small"):
        for protocol, opts in PROTOCOLS.items():
            split = next(make_splits(data, protocol, opts))
            users = split.test.ratings["user_id"].to_numpy()
            prev = None
            for rung, cfg in LADDER.items():
                t0 = time.perf_counter()
                fitted = over_seeds(lambda s, c=cfg: make_model("als-bayes-time", seeded(c, s)), split, seeds)
                sq = fitted.pop("sq")
                row = {"data": data, "protocol": protocol, "rung": rung, **fitted,
                       "rmse_warm": fitted["rmse_warm"] if fitted["cold_share"] < 1 else None,
                       "rmse_cold": fitted["rmse_cold"] if fitted["cold_share"] > 0 else None,
                       "fit_s": (time.perf_counter() - t0) / len(seeds), "load_1min": os.getloadavg()[0],
                       "diff_ci95_vs_above": None}  # fmt: skip
                if prev is not None:
                    row["diff_ci95_vs_above"] = paired_bootstrap(prev, sq, users)
                prev = sq
                rows.append(row)
                print(f"ladder {data} {protocol} {rung}: {row['rmse']:.4f} {row['diff_ci95_vs_above']}", flush=True)
    return rows


def inner_section(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """als-bayes-time configs on the inner validation split of u1.base (random 80/20, seed 42; u1.test unseen).

    A config may hold ``"_user_attributes": true`` to fit with ml-100k's user attributes.
    """
    from movierec.data import load_user_attributes

    split = next(ml100k_folds("ml-100k", (1,)))
    mask = random_split(split.train, 0.2, seed=42)
    train, val = split.train.subset(~mask), split.train.subset(mask)
    users = load_user_attributes("ml-100k")
    rows = []
    for given in configs:
        config = dict(given)
        fit_args = {"user_attributes": users} if config.pop("_user_attributes", False) else {}
        row = {"config": given} | scored("als-bayes-time", config, train, val, **fit_args)
        rows.append(row)
        print(f"inner: {given} {row['rmse']:.4f}", flush=True)
    return rows


def days_section() -> list[dict[str, Any]]:
    """ml-100k u1: the per-day user bias on and off, scored at each rating's own time, one day later and "now".

    The term moves only ratings on a day the user rated in training (99% of u1's test pairs); the two
    shifted columns show what a day not seen in training (every served score) gets.
    """
    split = next(ml100k_folds("ml-100k", (1,)))
    r = split.test.ratings
    users, movies, when = r["user_id"].to_list(), r["movie_id"].to_list(), r["timestamp"].to_numpy()
    rows = []
    for on in (True, False):
        model = make_model("als-bayes-time", {"user_day_bias": on}).fit(split.train)
        row: dict[str, Any] = {"user_day_bias": on}
        for label, t in (("own time", when), ("one day later", when + 86400), ("now (no timestamps)", None)):
            row[label] = rmse(model.predict(users, movies, t).raw, split.test, 1.0, 5.0)
        rows.append(row)
        print(f"days: {row}", flush=True)
    return rows


def foldin_section(n_users: int = 200) -> dict[str, Any]:
    """Milliseconds per fold-in of a training user (own ratings and dates), against the fixed item side."""
    split = next(ml100k_folds("ml-100k", (1,)))
    model = make_model("als-bayes-time").fit(split.train)
    r = split.train.ratings
    seconds, gaps = [], []
    for user in split.train.users.ids.to_list()[:n_users]:
        own = r.filter(r["user_id"] == user)
        t0 = time.perf_counter()
        folded = model.fold_in(own["movie_id"].to_list(), own["rating"].to_numpy(), own["timestamp"].to_numpy())
        seconds.append(time.perf_counter() - t0)
        stored = model.score_block(model.user_state(user))[0]
        gaps.append(float(np.sqrt(np.mean((model.score_block(folded)[0] - stored) ** 2))))
    ms = 1000 * np.asarray(seconds)
    out = {"n_users": n_users, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
           "median_score_rms_gap": float(np.median(gaps)), "load_1min": os.getloadavg()[0]}  # fmt: skip
    print(f"foldin: {out}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sections = ["select", "default", "nested", "ensemble", "inner", "time", "days", "foldin", "ladder"]
    ap.add_argument("--sections", nargs="*", default=sections[:4], choices=sections)
    ap.add_argument("--grid", type=int, nargs="*", default=[5, 10, 20, 32], help="n_factors searched")
    ap.add_argument("--config", type=json.loads, default=None,
                    help='default section: als-bayes config as JSON, e.g. \'{"n_samples": 380}\'')  # fmt: skip
    ap.add_argument(
        "--inner-configs",
        type=json.loads,
        default=[{}],
        help="inner section: a JSON list of als-bayes-time configs, e.g. '[{}]'",
    )
    ap.add_argument("--ladder-seeds", type=int, nargs="+", default=[42, 0, 1, 2, 3], help="ladder: chain seeds")
    ap.add_argument("--out-name", default="bayes")
    args = ap.parse_args()
    payload: dict[str, Any] = {"machine": machine(), "grid": args.grid}
    t0 = time.perf_counter()
    if "select" in args.sections:
        payload["select"] = select(args.grid)
    if "default" in args.sections:
        payload["default"] = default(args.config)
        cols = ["model", "split", "rmse", "mae"]
        rows = [{c: r[c] for c in cols} for r in payload["default"]["rows"]]
        print("\n### ml-100k u1-u5, default configs\n" + table(rows, cols))
        print(table(payload["default"]["summary"], ["model", "rmse", "mae", "n_cold_pairs"]))
    if "nested" in args.sections:
        payload["nested"] = nested(args.grid)
        mean = float(np.mean([r["rmse"] for r in payload["nested"]]))
        print("\n### nested (n_factors per fold on an inner split of u{k}.base)")
        print(table(payload["nested"], ["fold", "n_factors", "inner_rmse", "rmse"]) + f"\nmean {mean:.4f}")
    if "ensemble" in args.sections:
        payload["ensemble"] = ensemble()
        print("\n### 5-seed ALS average\n" + table(payload["ensemble"], ["fold", "rmse", "rmse_seed0"]))
    if "time" in args.sections:
        payload["time"] = time_section()
        print("\n### als-bayes-time (issue 20)\n" + table(payload["time"], ["split", "model", "rmse", "fit_s"]))
    if "inner" in args.sections:
        payload["inner"] = inner_section(args.inner_configs)
    if "days" in args.sections:
        payload["days"] = days_section()
    if "foldin" in args.sections:
        payload["foldin"] = foldin_section()
    if "ladder" in args.sections:
        payload["ladder"] = ladder_section(args.ladder_seeds)
        cols = ["data", "protocol", "rung", "rmse", "diff_ci95_vs_above"]
        print("\n### als-bayes-time ladder\n" + table(payload["ladder"], cols))
    payload["seconds"] = time.perf_counter() - t0
    print(f"\nraw JSON: {save(args.out_name, payload)}")


if __name__ == "__main__":
    main()
