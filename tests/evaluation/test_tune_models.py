"""`tune` beyond explicit ALS: the hybrid's ranking weights and implicit ALS, in process and through `movierec tune`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from movierec.data import synthetic_ratings
from movierec.errors import DataValidationError
from movierec.evaluation.tuning import simplest_guard, tune
from movierec.models import HybridConfig
from tests.models.test_implicit_hybrid import planted

SMALL_HYBRID = {"explicit": {"n_factors": 8, "n_iter": 4}, "implicit": {"n_factors": 8, "n_iter": 4}}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "movierec", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_tune_hybrid_finds_a_config_and_resumes(tmp_path: Path, seed: int) -> None:
    ds, _ = planted(seed)
    storage = f"sqlite:///{tmp_path / 'h.db'}"
    first = tune(ds, "hybrid", 3, objective="ndcg", base=SMALL_HYBRID, storage=storage, n_folds=2, seed=seed, guard_grid=(0, 5))
    assert first.n_trials == 3 and 0.0 < first.value <= 1.0
    config = HybridConfig.from_dict(first.config)  # a whole, valid hybrid config
    assert 0.0 <= config.rating_weight <= 1.0 and -0.5 <= config.popularity_weight <= 0.5
    assert 0.0 <= config.popularity_debias <= 0.6 and 0.05 <= config.implicit.reg <= 3.0 and 1.0 <= config.implicit.alpha <= 30
    assert 0.0 <= config.ease_weight <= 1.5 and 25.0 <= config.ease.reg <= 2500.0  # the EASE term is searched too
    assert config.ease.max_items == HybridConfig().ease.max_items  # a searched sub-config keeps its other defaults
    assert (config.explicit.n_factors, config.implicit.n_factors) == (8, 8)  # unsearched fields of the base are kept
    assert first.policy.min_ratings == simplest_guard(first.guard_curve)
    again = tune(ds, "hybrid", 4, objective="ndcg", base=SMALL_HYBRID, storage=storage, n_folds=2, seed=seed, guard_grid=(0, 5))
    assert again.n_trials == 4 and again.value >= first.value  # resumed: one more trial only


def test_tune_implicit_als_searches_its_own_space(tmp_path: Path, seed: int) -> None:
    ds, _ = planted(seed)
    storage = f"sqlite:///{tmp_path / 'i.db'}"
    res = tune(ds, "als-implicit", 2, objective="ndcg", storage=storage, n_folds=2, seed=seed, guard_grid=(0, 5))
    assert res.model == "als-implicit" and res.n_trials == 2 and 0.0 < res.value <= 1.0
    assert 16 <= res.config["n_factors"] <= 256 and 0.5 <= res.config["alpha"] <= 50.0
    trials = optuna.load_study(study_name="movierec-als-implicit", storage=storage).trials
    assert all(set(t.params) == {"n_factors", "reg", "alpha", "n_iter"} for t in trials)
    assert res.policy.min_ratings in (0, 5) and res.policy.rank_by == "score"


@pytest.mark.slow
def test_cli_tune_implicit_als_then_train_with_config(tmp_path: Path, seed: int) -> None:
    data = tmp_path / "syn" / "ratings.csv"
    data.parent.mkdir()
    synthetic_ratings(2500, n_users=60, n_items=90, seed=seed).rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(data)
    out = tmp_path / "i.json"
    r = run("tune", "--data", str(data), "--model", "als-implicit", "--trials", "2", "--folds", "2", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    written = json.loads(out.read_text())
    assert set(written["models"]) == set(written["policies"]) == {"als-implicit"}
    assert written["tuning"]["objective"] == "ndcg" and written["tuning"]["model"] == "als-implicit"  # ndcg: the default here
    assert "random" in written["tuning"]["tuned_on"] and (tmp_path / "i.db").exists()  # the default outer protocol
    assert written["policies"]["als-implicit"]["min_ratings"] == simplest_guard(written["tuning"]["guard_curve"])
    r = run("train", "--data", str(data), "--model", "als-implicit", "--config", str(out), "--out", str(tmp_path / "m"), "--json")
    assert r.returncode == 0, r.stderr
    trained = json.loads(r.stdout)
    assert trained["config"] == written["models"]["als-implicit"] and trained["policy"] == written["policies"]["als-implicit"]
    r = run("tune", "--data", str(data), "--model", "als-implicit", "--objective", "rmse", "--trials", "1", "--out", str(out))
    assert r.returncode == 2 and "does not predict ratings" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_tune_hybrid_then_train_with_config(tmp_path: Path, data_home: Path) -> None:
    env = {"MOVIEREC_DATA_HOME": str(data_home)}
    r = run("tune", "--data", "ml-100k", "--protocol", "stratified", "--model", "hybrid", "--trials", "2", "--folds", "2",
            "--out", str(tmp_path / "h.json"), "--json", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    written = json.loads((tmp_path / "h.json").read_text())
    assert set(written["models"]) == {"hybrid"} and written["tuning"]["objective"] == "ndcg"
    r = run("train", "--data", "ml-100k", "--model", "hybrid", "--config", str(tmp_path / "h.json"), "--out", str(tmp_path / "m"), "--json", env=env)
    assert r.returncode == 0, r.stderr
    trained = json.loads(r.stdout)
    assert trained["config"]["popularity_weight"] == written["models"]["hybrid"]["popularity_weight"]
    assert trained["policy"] == written["policies"]["hybrid"]  # the guard chosen after the search travels with the config


@pytest.mark.slow
def test_cli_second_tune_with_another_objective_on_the_same_out_is_refused(tmp_path: Path, seed: int) -> None:
    # From a new-user trial: `--objective ndcg` resumed an RMSE study and wrote the worst-NDCG config.
    data = tmp_path / "r.csv"
    ratings = synthetic_ratings(1500, n_users=40, n_items=50, seed=seed)
    ratings.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(data)
    args = ["tune", "--data", str(data), "--trials", "1", "--folds", "2", "--out", str(tmp_path / "t.json")]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "t.json").read_text()
    again = run(*args, "--objective", "ndcg")
    assert again.returncode == 2 and "objective: study 'rmse', now 'ndcg'" in again.stderr
    assert "Traceback" not in again.stderr
    assert (tmp_path / "t.json").read_text() == before  # the config file was not overwritten


def test_a_study_of_an_older_search_space_is_refused_before_any_trial(tmp_path: Path, seed: int) -> None:
    # A hybrid study made before the EASE term was searched: resuming it used to run the new trials, then
    # fail in Optuna rebuilding the best (old) trial's config. Now it is refused up front, saying what changed.
    ds, _ = planted(seed)
    storage = f"sqlite:///{tmp_path / 'old.db'}"
    tune(ds, "hybrid", 1, objective="ndcg", base=SMALL_HYBRID, storage=storage, n_folds=2, seed=seed, guard_grid=())
    old = optuna.load_study(study_name="movierec-hybrid", storage=storage)  # a trial of the older space joins it
    params = {"rating_weight": 0.5, "popularity_weight": 0.0, "popularity_debias": 0.1, "shrinkage": 10.0,
              "implicit_reg": 0.2, "implicit_alpha": 3.0}  # fmt: skip
    same = old.trials[0].distributions  # the older space's parameters, as the first trial drew them
    old.add_trial(optuna.trial.create_trial(params=params, distributions={k: same[k] for k in params}, value=0.3))
    with pytest.raises(DataValidationError, match=r"another parameter space \(new: ease_reg, ease_weight\)"):
        tune(ds, "hybrid", 3, objective="ndcg", base=SMALL_HYBRID, storage=storage, n_folds=2, seed=seed, guard_grid=())
    assert len(optuna.load_study(study_name="movierec-hybrid", storage=storage).trials) == 2  # nothing more was run
