"""The retrain loop end to end: ratings written through the API, ``movierec retrain``, the new version
served, and exposures and outcomes attributed to the version that showed each list."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from movierec.cli.main import app
from movierec.config import ALSConfig
from movierec.data import Dataset
from movierec.models import ALS
from movierec.store import db, outcomes
from movierec.store.registry import Registry
from tests.conftest import DATA_HOME
from tests.service.conftest import make_server


def _wait_for(c: httpx.Client, version: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if c.get("/v1/model").json().get("version") == version:
            return
        time.sleep(0.1)
    raise AssertionError(f"the service never served {version}")


@pytest.mark.slow
@pytest.mark.realdata
def test_api_ratings_retrain_and_outcomes_follow_the_serving_version(ml_small: Dataset, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry")
    assert reg.publish(ALS(ALSConfig(n_factors=8, n_iter=4, random_state=1)).fit(ml_small)) == "v000001"
    url = f"sqlite:///{tmp_path / 'service.db'}"
    rng = np.random.default_rng(7)
    popular = ml_small.ratings.group_by("movie_id").len().sort("len", descending=True)["movie_id"].to_list()[:400]
    users: dict[int, dict[str, str]] = {}

    def visit_and_rate(c: httpx.Client, version: str, n_shown: int) -> None:
        """Each user asks for a list (one exposure) and rates ``n_shown`` of the films it showed."""
        for user, auth in users.items():
            body = c.get(f"/v1/users/{user}/recommendations", params={"k": 10}, headers=auth).json()
            assert body["model_version"] == version and body["request_id"]
            for movie in [r["movie_id"] for r in body["recommendations"]][:n_shown]:
                assert c.put(f"/v1/users/{user}/ratings/{movie}", json={"rating": 4.5}, headers=auth).status_code == 200

    with make_server(reg.root, url, reload_interval=0.2) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        for _ in range(40):  # new users sign up and rate a profile, in two seconds' worth of writes
            new = c.post("/v1/users").json()
            users[new["user_id"]] = {"Authorization": f"Bearer {new['token']}"}
        for n_batch in range(2):
            for user, auth in users.items():
                for movie in rng.choice(popular, 8, replace=False).tolist():
                    stars = float(rng.integers(1, 11)) / 2
                    c.put(f"/v1/users/{user}/ratings/{movie}", json={"rating": stars}, headers=auth)
            time.sleep(1.1 * (1 - n_batch))  # the second batch is newer: the gate holds out from it
        visit_and_rate(c, "v000001", 2)

        data = str(DATA_HOME / "ml-latest-small")
        r = CliRunner().invoke(app, ["retrain", "--data", data, "--db", url, "--registry", str(reg.root),
                                     "--margin-ndcg", "1", "--margin-rmse", "5", "--json"])  # fmt: skip
        assert r.exit_code == 0, r.output
        result = json.loads(r.stdout.strip().splitlines()[-1])
        assert result["outcome"] == "published" and result["version"] == "v000002", result
        assert result["new_ratings"] > 40 * 8  # every rating written through the API counted as new
        meta = reg.read_meta("v000002")
        assert meta["model"] == "als" and meta["config"]["n_factors"] == 8  # the current version's settings
        assert meta["n_users"] == ml_small.n_users + len(users)  # the API's users are training users now
        _wait_for(c, "v000002")
        user, auth = next(iter(users.items()))  # a training user now, but their reads stay private
        assert c.get(f"/v1/users/{user}/ratings").status_code == 401
        assert c.get(f"/v1/users/{user}/recommendations").status_code == 401
        assert c.get(f"/v1/users/{user}/ratings", headers=auth).status_code == 200
        assert c.get("/v1/users/1/ratings").status_code == 200  # a dataset's user stays public
        mark = c.get("/v1/model").json()["metrics"]["db_high_water"]
        assert "at" not in mark and mark["n_ratings"] == result["high_water"]["n_ratings"]  # no stored rating shown
        visit_and_rate(c, "v000002", 3)

    engine = db.make_engine(url)  # the server has stopped: every queued exposure is written
    try:
        exposures = outcomes.exposures_frame(engine)
        attributed = outcomes.attributed_ratings(engine, exposures)
        days = outcomes.daily_metrics(engine, frames=(exposures, attributed))
    finally:
        engine.dispose()
    by_version = {v: exposures.filter(exposures["model_version"] == v).height for v in ("v000001", "v000002")}
    assert by_version == {"v000001": len(users), "v000002": len(users)}
    credited = attributed.join(exposures.select("request_id", "model_version"), on="request_id")
    per_version = dict(credited.group_by("model_version").len().iter_rows())
    assert per_version == {"v000001": 2 * len(users), "v000002": 3 * len(users)}  # each rating to the list that showed it
    hit = {d["model_version"]: d["hit_rate"] for d in days}
    assert hit == {"v000001": 1.0, "v000002": 1.0}
