"""A/B canary between registry versions: the sticky split, the registry's record, the service's arms, the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from movierec.cli.main import app
from movierec.errors import ArtifactError, DataValidationError
from movierec.models import Recommender
from movierec.store import db, outcomes
from movierec.store.registry import Experiment, Registry
from tests.service.conftest import make_server
from tests.service.test_outcomes import wait_for_exposures

runner = CliRunner()


def test_the_split_is_sticky_near_the_requested_share_and_independent_between_experiments() -> None:
    first = Experiment("a1b2c3d4e5f6", "v000001", "v000002", 10.0, "2026-12-07T00:00:00Z")
    second = Experiment("0f1e2d3c4b5a", "v000001", "v000002", 10.0, "2026-12-07T00:00:00Z")
    users = range(1, 20_001)
    arms = [first.arm_of(u) for u in users]
    assert arms == [first.arm_of(u) for u in users]  # sticky
    share = arms.count("canary") / len(arms)
    assert 0.09 < share < 0.11  # 2000 expected; sd of the count about 42
    both = sum(a == "canary" and second.arm_of(u) == "canary" for u, a in zip(users, arms, strict=True))
    assert 100 < both < 300  # independent splits: about 1% of users (200) are canary in both


def test_registry_starts_promotes_and_ends_experiments(tmp_path: Path, model_a: Recommender) -> None:
    reg = Registry(tmp_path / "reg")
    reg.publish(model_a)
    reg.publish(model_a)
    with pytest.raises(DataValidationError, match="already the current version"):
        reg.start_experiment("v000002", 10)
    reg.set_current("v000001")
    for bad in (0, 100, -5):
        with pytest.raises(DataValidationError, match="--canary"):
            reg.start_experiment("v000002", bad)
    with pytest.raises(ArtifactError, match="no canary experiment is running"):
        reg.promote()
    started = reg.start_experiment("v000002", 25)
    assert reg.experiment() == started and started.running and reg.current() == "v000001"
    ended = reg.promote()
    assert reg.current() == "v000002" and ended.outcome == "promoted" and not reg.experiment().running  # type: ignore[union-attr]
    reg.set_current("v000001")
    again = reg.start_experiment("v000002", 50)
    assert again.id != started.id
    reg.set_current("v000001")  # `registry use` without --canary ends it, the pointer where it was
    assert reg.experiment().outcome == "ended" and reg.current() == "v000001"  # type: ignore[union-attr]
    reg.start_experiment("v000002", 50)
    reg.publish(model_a)  # a new current version: the control is gone, so the experiment ends
    assert not reg.experiment().running and reg.current() == "v000003"  # type: ignore[union-attr]
    (reg.root / "EXPERIMENT").write_text("{not json")
    with pytest.raises(ArtifactError, match="not an experiment record"):
        reg.experiment()


@pytest.mark.slow
def test_the_service_serves_each_user_their_arm_and_logs_it_until_the_canary_is_promoted(
    registry: Path, model_b: Recommender, sqlite_url: str
) -> None:
    reg = Registry(registry)
    reg.publish(model_b)
    reg.set_current("v000001")
    experiment = reg.start_experiment("v000002", 50)
    users = list(range(1, 41))
    with make_server(registry, sqlite_url) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        answers = {u: c.get(f"/v1/users/{u}/recommendations", params={"k": 5}).json() for u in users}
        again = {u: c.get(f"/v1/users/{u}/recommendations", params={"k": 5}).json() for u in users[:10]}
        anon = c.post("/v1/recommendations", json={"ratings": [{"movie_id": 1, "rating": 5}]}).json()
        metrics = c.get("/v1/metrics").text
        rows = wait_for_exposures(sqlite_url, 51)
        reg.promote()
        auth = {"Authorization": "Bearer s3cret"}
        assert c.post("/v1/admin/reload", headers=auth).json()["version"] == "v000002"
        after = c.get("/v1/users/1/recommendations").json()
    for u, body in answers.items():
        arm = experiment.arm_of(u)
        assert body["arm"] == arm and body["model_version"] == ("v000002" if arm == "canary" else "v000001")
    assert {b["arm"] for b in answers.values()} == {"control", "canary"}
    assert all(again[u]["arm"] == answers[u]["arm"] for u in again)  # sticky across requests
    assert anon["model_version"] == "v000001" and anon["arm"] is None  # anonymous: the current version, no arm
    assert f'movierec_experiment_info{{canary="v000002",control="v000001",experiment="{experiment.id}"}} 1.0' in metrics
    logged = {r.request_id: r for r in rows}
    for body in answers.values():
        row = logged[body["request_id"]]
        assert (row.experiment, row.arm, row.model_version) == (experiment.id, body["arm"], body["model_version"])
    assert logged[anon["request_id"]].experiment is None
    assert after["model_version"] == "v000002" and after["arm"] is None


@pytest.mark.slow
def test_registry_and_outcomes_commands(registry: Path, model_b: Recommender, sqlite_url: str, tmp_path: Path) -> None:
    Registry(registry).publish(model_b)
    Registry(registry).set_current("v000001")
    r = runner.invoke(app, ["registry", "use", "v000002", "--canary", "10", "--registry", str(registry), "--json"])
    assert r.exit_code == 0, r.output
    started = json.loads(r.stdout)["experiment"]
    assert (started["control"], started["canary"], started["percent"]) == ("v000001", "v000002", 10.0)
    listed = json.loads(runner.invoke(app, ["registry", "list", "--registry", str(registry), "--json"]).stdout)
    assert listed["experiment"]["running"] and listed["current"] == "v000001"
    bad = runner.invoke(app, ["registry", "use", "v000002", "--canary", "100", "--registry", str(registry)])
    assert bad.exit_code == 2 and "strictly between 0 and 100" in bad.stderr and "Traceback" not in bad.output

    eng = db.make_engine(sqlite_url)
    db.init_db(eng)
    db.sync_movies(eng, Registry(registry).load("v000001")[1].movies_)
    now = time.time()
    for u in range(1, 41):  # the canary arm earns a rating on every list, the control on none
        arm = "canary" if u % 2 else "control"
        outcomes.insert_exposures(eng, [(f"{u:032x}", u, "v000002" if u % 2 else "v000001", started["id"], arm,
                                         now - 60, [1, 2, 3])])  # fmt: skip
        if arm == "canary":
            db.upsert_rating(eng, u, 2, 4.0)
    eng.dispose()
    html = tmp_path / "outcomes.html"
    r = runner.invoke(app, ["outcomes", "--db", sqlite_url, "--json", "--report", str(html)])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    days = {d["model_version"]: d for d in report["days"]}
    assert days["v000001"]["exposures"] == 20 and days["v000001"]["hit_rate"] == 0.0
    assert days["v000002"]["hit_rate"] == 1.0 and days["v000002"]["mean_rating"] == 4.0
    exp = report["experiment"]
    assert exp["canary"]["hit_rate"] == 1.0 and exp["control"]["hit_rate"] == 0.0
    assert exp["verdict"] == "canary v000002 wins" and exp["winner"] == "v000002"
    assert exp["hit_rate_difference"]["low"] > 0.9
    assert "<table>" in html.read_text() and "canary v000002 wins" in html.read_text()
    table = runner.invoke(app, ["outcomes", "--db", sqlite_url])
    assert table.exit_code == 0 and "canary v000002 wins" in table.stdout and "hit rate" in table.stdout
    r = runner.invoke(app, ["outcomes", "--db", sqlite_url, "--since", "07/12/2026"])
    assert r.exit_code == 2 and "--since" in r.stderr and "YYYY-MM-DD" in r.stderr and "Traceback" not in r.output

    r = runner.invoke(app, ["registry", "promote", "--registry", str(registry), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["current"] == "v000002"
    r = runner.invoke(app, ["registry", "promote", "--registry", str(registry)])
    assert r.exit_code != 0 and "no canary experiment is running" in r.stderr


@pytest.mark.slow
def test_a_canary_that_cannot_load_leaves_everyone_on_the_current_version_and_is_not_retried(
    registry: Path, model_a: Recommender
) -> None:
    from movierec.service.state import ModelHolder
    from movierec.store import artifact

    reg = Registry(registry)
    artifact.save(model_a, registry / "versions" / "v000002")
    (registry / "versions" / "v000002" / "arrays.npz").write_bytes(b"garbage")
    reg.start_experiment("v000002", 50)
    holder = ModelHolder(reg)
    calls: list[str] = []
    load = reg.load
    reg.load = lambda version=None: calls.append(version) or load(version)  # type: ignore[method-assign]
    holder.check()
    assert holder.current is not None and holder.current.version == "v000001" and holder.canary is None
    assert "ArtifactError" in (holder.canary_error or "")
    assert all(holder.serve(u) == (holder.current, None) for u in range(1, 50))  # no arm: not in the experiment
    holder.check()
    assert calls == ["v000001", "v000002"]  # the broken canary is not loaded again at every poll
    holder.check(force=True)
    assert calls == ["v000001", "v000002", "v000002"]


def test_a_canary_started_while_one_runs_says_which_experiment_it_ended(registry: Path, model_b: Recommender) -> None:
    Registry(registry).publish(model_b, current=False)
    cmd = ["registry", "use", "v000002", "--canary", "10", "--registry", str(registry)]
    first = runner.invoke(app, [*cmd, "--json"])
    assert first.exit_code == 0, first.output
    started = json.loads(first.stdout)
    assert started["replaced"] is None
    second = runner.invoke(app, cmd)
    assert second.exit_code == 0, second.output
    now = Registry(registry).experiment()
    assert now is not None and now.id != started["experiment"]["id"]
    assert f"experiment {started['experiment']['id']} ended" in second.stdout and now.id in second.stdout
    third = json.loads(runner.invoke(app, [*cmd, "--json"]).stdout)
    assert third["replaced"] == now.id
