"""Will a returning user rate what the list shows? The default against the anchors on a leak-free time cut.

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.timecut_replay [--cuts 0.5 0.6 0.7 0.8]

ml-latest-small is cut globally by time at each fraction of its ratings; both models are fitted on
the part before the cut (the default, ``ease``, ``als-implicit`` and most popular, each with its
defaults: no model is tuned on this protocol). Each user with at least 6 ratings after it "returns": their first 5 later
ratings are folded in (over their earlier ratings, if any), the model's top-10 is asked through
``recommend`` (guard and exclusions as served), and it is a hit when it shows any film of the user's
remaining later ratings. Intervals: paired user bootstrap of the hit rates, default − each anchor.
Raw JSON: ``benchmarks/results/timecut-replay.json``. This is the offline twin of the service's
online hit rate (docs/decisions/0022-outcomes.md), without the leak of a per-user split.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import machine, save
from movierec.data import Dataset, load_movielens
from movierec.evaluation.intervals import paired_mean_difference
from movierec.models import make_model
from movierec.ranking import recommend


def replay(ratings: pl.DataFrame, movies: pl.DataFrame, fraction: float) -> dict[str, Any]:
    cut = int(ratings.height * fraction)
    before, later = ratings.head(cut), ratings.tail(ratings.height - cut)
    train = Dataset.from_frames(before, movies)
    models = {name: make_model(name).fit(train) for name in ("hybrid", "popular", "ease", "als-implicit")}
    hits: dict[str, list[float]] = {name: [] for name in models}
    for (user,), rows in later.group_by(["user_id"], maintain_order=True):
        if rows.height < 6:
            continue
        known = before.filter(pl.col("user_id") == user).vstack(rows.head(5))
        pairs = dict(zip(known["movie_id"].to_list(), known["rating"].to_list(), strict=True))
        target = set(rows.tail(rows.height - 5)["movie_id"].to_list())
        for name, model in models.items():
            shown = {r.movie_id for r in recommend(model, ratings=list(pairs.items()), k=10)}
            hits[name].append(float(bool(target & shown)))
    default = np.array(hits["hybrid"])
    return {"cut": fraction, "users": len(default), "hit_rate": {n: float(np.mean(h)) for n, h in hits.items()},
            "default_minus": {n: paired_mean_difference(np.array(h), default).to_dict()
                              for n, h in hits.items() if n != "hybrid"}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    args = parser.parse_args()
    data = load_movielens("ml-latest-small")
    ratings = data.ratings.sort("timestamp", "user_id", "movie_id")
    rows = []
    for fraction in args.cuts:
        rows.append(replay(ratings, data.movies, fraction))
        r = rows[-1]
        rates = ", ".join(f"{n} {v:.3f}" for n, v in r["hit_rate"].items())
        diffs = ", ".join(f"− {n} {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
                          for n, d in r["default_minus"].items())  # fmt: skip
        print(f"cut {fraction:.0%}: {r['users']} users; hit rate {rates}; default {diffs}")
    save("timecut-replay", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
