"""`movierec db init` and `movierec train --registry --from-db`: the retrain loop of the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from movierec.cli.main import app
from movierec.store import db
from movierec.store.registry import Registry

runner = CliRunner()


@pytest.mark.slow
def test_db_init_then_train_from_the_database_publishes_a_version(ml_small, tmp_path: Path) -> None:
    data = str(Path(ml_small.name).parent) if ml_small.name.endswith(".csv") else ml_small.name
    url = f"sqlite:///{tmp_path / 'r.db'}"
    reg = tmp_path / "registry"
    common = ["--data", data, "--registry", str(reg), "--factors", "4", "--iterations", "1", "--json"]

    first = runner.invoke(app, ["train", *common])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout.strip().splitlines()[-1])["version"] == "v000001"

    r = runner.invoke(app, ["db", "init", "--db", url, "--registry", str(reg), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["movies_synced"] == 9742
    eng = db.make_engine(url)
    for movie in (1, 2, 3):
        db.upsert_rating(eng, 900_000, movie, 5.0)  # a service user the first model never saw
    db.upsert_rating(eng, 1, 1, 0.5)  # and a training user's changed mind

    second = runner.invoke(app, ["train", *common, "--from-db", url])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["version"] == "v000002" and summary["data"]["n_ratings"] == ml_small.n_ratings + 3
    version, model = Registry(reg).load()
    assert version == "v000002" and 900_000 in model.users_
    u = model.users_.index(1)
    row = model.user_items_[u].toarray().ravel()
    assert row[model.items_.index(1)] == 0.5


def test_train_needs_a_destination_and_a_reachable_database(ml_small, tmp_path: Path) -> None:
    data = str(Path(ml_small.name).parent) if ml_small.name.endswith(".csv") else ml_small.name
    r = runner.invoke(app, ["train", "--data", data])
    assert r.exit_code == 2 and "--registry" in r.output
    bad = runner.invoke(
        app,
        [
            "train",
            "--data",
            data,
            "--registry",
            str(tmp_path / "reg"),
            "--from-db",
            f"sqlite:///{tmp_path}/no/such/dir.db",
        ],
    )
    assert bad.exit_code == 7 and "does not exist" in bad.output  # the database exit code
    assert Registry(tmp_path / "reg").current() is None


def test_registry_list_use_and_recommend_from_a_registry(ml_small, tmp_path: Path) -> None:
    data = str(Path(ml_small.name).parent) if ml_small.name.endswith(".csv") else ml_small.name
    reg = tmp_path / "registry"
    for model, options in (("bias", []), ("als", ["--iterations", "1"])):  # bias has no sweeps to set: refused, not ignored
        r = runner.invoke(app, ["train", "--data", data, "--model", model, "--registry", str(reg), *options, "--json"])
        assert r.exit_code == 0, r.output
    listed = json.loads(runner.invoke(app, ["registry", "list", "--registry", str(reg), "--json"]).stdout)
    assert listed["current"] == "v000002" and [v["model"] for v in listed["versions"]] == ["bias", "als"]
    assert [v["current"] for v in listed["versions"]] == [False, True]
    r = runner.invoke(app, ["registry", "use", "v000001", "--registry", str(reg), "--json"])  # roll back
    assert r.exit_code == 0 and json.loads(r.stdout) == {"registry": str(reg), "current": "v000001", "previous": "v000002"}
    assert Registry(reg).current() == "v000001"
    r = runner.invoke(app, ["recommend", "--model", str(reg), "--json", "-k", "3"])  # a registry: its current version
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["model"]["model"] == "bias"
    r = runner.invoke(app, ["registry", "use", "v000009", "--registry", str(reg)])
    assert r.exit_code == 4 and "no model version 'v000009'" in r.output and Registry(reg).current() == "v000001"
    (reg / "CURRENT").write_text("v000009\n")  # a broken pointer: listed with the reason, and `use` repairs it
    listed = json.loads(runner.invoke(app, ["registry", "list", "--registry", str(reg), "--json"]).stdout)
    assert listed["current"] is None and "v000009" in listed["current_error"] and len(listed["versions"]) == 2
    r = runner.invoke(app, ["registry", "use", "v000002", "--registry", str(reg)])
    assert r.exit_code == 0 and "was a broken pointer" in r.output and Registry(reg).current() == "v000002"
    r = runner.invoke(app, ["registry", "list", "--registry", str(tmp_path)])  # no registry there
    assert r.exit_code == 4 and "not a model registry" in r.output
