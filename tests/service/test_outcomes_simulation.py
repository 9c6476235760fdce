"""Replay: users come back for their later ratings, get lists from a 50% canary, and rate what they did rate.

The default model (``hybrid``) and ``popular`` are trained on every user's earlier ratings (each
user's first 80% in time); ``popular`` is the current version and ``hybrid`` the canary for a
sticky half of the users. Each user then "arrives" once, in the order of their first later rating,
asks the live service for 10 films, and stores through the API the ratings they really gave, in
their later slice within 7 days of arriving, of the films they were shown. ``online_report`` must
call the canary (the default model) the winner on hit rate with a 95% interval above 0.

The split is per user, which is not leak-free (other users' later ratings are in training): with a
global time cut of ml-latest-small only about 25 of the arriving users are training users, too few
to tell any two models apart (docs/decisions, outcomes note).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest

from movierec.data import Dataset
from movierec.errors import DataWarning
from movierec.evaluation.online import online_report
from movierec.evaluation.splits import Split, user_temporal_split
from movierec.models import make_model
from movierec.store import db
from movierec.store.registry import Registry
from tests.service.conftest import ADMIN, make_server

WEEK_S = 7 * 86400


@pytest.mark.slow
@pytest.mark.realdata
def test_a_replayed_canary_calls_the_default_model_the_winner(ml_small: Dataset, tmp_path: Path, seed: int) -> None:
    with pytest.warns(DataWarning, match="not leak-free"):
        mask = user_temporal_split(ml_small, 0.2)
    split = Split.from_mask(ml_small, mask, "later 20% of each user")
    reg = Registry(tmp_path / "registry")
    assert reg.publish(make_model("popular").fit(split.train)) == "v000001"
    assert reg.publish(make_model("hybrid").fit(split.train)) == "v000002"
    reg.set_current("v000001")
    experiment = reg.start_experiment("v000002", 50, experiment_id=f"replay{seed}")  # the same split every run

    later = split.test.ratings.select("user_id", "movie_id", "rating", "timestamp").sort("timestamp", "movie_id")
    arrivals = later.group_by("user_id", maintain_order=True).agg(pl.all())
    url = f"sqlite:///{tmp_path / 'service.db'}"
    arms: dict[str, int] = {"control": 0, "canary": 0}
    with make_server(reg.root, url) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        for user, movies, stars, times in arrivals.iter_rows():
            body = c.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
            arms[body["arm"]] += 1
            assert body["model_version"] == ("v000002" if body["arm"] == "canary" else "v000001")
            shown = {r["movie_id"] for r in body["recommendations"]}
            for movie, rating, t in zip(movies, stars, times, strict=True):
                if movie in shown and t <= times[0] + WEEK_S:
                    assert (
                        c.put(f"/v1/users/{user}/ratings/{movie}", json={"rating": rating}, headers=ADMIN).status_code
                        == 200
                    )
    assert min(arms.values()) > 250  # 610 users, about half in each arm

    engine = db.make_engine(url)  # the server has stopped: every queued exposure is written
    try:
        report = online_report(engine)
    finally:
        engine.dispose()
    exp = report["experiment"]
    assert exp["experiment"] == experiment.id
    assert exp["control"]["version"] == "v000001" and exp["canary"]["version"] == "v000002"
    assert exp["control"]["exposures"] + exp["canary"]["exposures"] == arrivals.height
    assert exp["winner"] == "v000002" and exp["verdict"] == "canary v000002 wins"
    assert exp["hit_rate_difference"]["low"] > 0, exp
    print(
        f"replayed canary: hit rate control (popular) {exp['control']['hit_rate']:.3f}, canary (hybrid) "
        f"{exp['canary']['hit_rate']:.3f}, difference {exp['hit_rate_difference']}"
    )
