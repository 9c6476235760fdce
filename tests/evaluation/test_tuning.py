"""Tuning in process: inner splits never touch the outer test side; the generic ``tune``; the guard rule; config files."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from movierec.config import ALSConfig, RankBy, RankingPolicy
from movierec.data import synthetic_dataset
from movierec.errors import DataValidationError
from movierec.evaluation.protocols import SplitOptions, make_splits
from movierec.evaluation.tuning import SPACES, inner_splits, model_from_file, read_config_file, simplest_guard, tune
from movierec.models import ALS

GRID = (0, 5, 10, 20)


def _pairs(ds) -> set[tuple]:  # noqa: ANN001
    return set(ds.ratings.select("user_id", "movie_id").rows())


@pytest.mark.parametrize("inner", ["kfold", "stratified", "last-n"])
def test_inner_splits_stay_inside_training_data(seed: int, inner: str) -> None:
    ds = synthetic_dataset(3000, n_users=60, n_items=80, seed=seed)
    outer = next(iter(make_splits(ds, "random", SplitOptions(seed=seed))))
    test_pairs = _pairs(outer.test)
    folds = inner_splits(outer.train, inner, 3, seed)
    assert len(folds) == (1 if inner == "last-n" else 3)
    for f in folds:
        inner_pairs = _pairs(f.train) | _pairs(f.test)
        assert not inner_pairs & test_pairs and len(inner_pairs) == outer.train.n_ratings and f.test.n_ratings > 0
    with pytest.raises(DataValidationError, match="inner split must be one of"):
        inner_splits(outer.train, "chrono")


def test_ndcg_objective_searches_als_but_never_samples_the_guard(tmp_path: Path, seed: int) -> None:
    ds = synthetic_dataset(2000, n_users=50, n_items=60, seed=seed)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    seen: list[int] = []
    res = tune(ds, "als", 2, objective="ndcg", n_folds=2, seed=seed, storage=storage, guard_grid=GRID, on_start=seen.append)
    assert seen == [0] and res.n_trials == 2 and 0 <= res.value <= 1 and res.model == "als" and res.objective == "ndcg"
    assert 8 <= res.config["n_factors"] <= 128 and 5 <= res.config["n_iter"] <= 25
    trials = optuna.load_study(study_name=res.study_name, storage=storage).trials
    assert all(set(t.params) == {"n_factors", "reg", "bias_reg", "n_iter", "confidence_weight"} for t in trials)  # no min_ratings
    # The guard is chosen after the search, on the best parameters: the smallest within one SE of the best.
    assert [c["min_ratings"] for c in res.guard_curve] == list(GRID)
    assert res.policy.min_ratings == simplest_guard(res.guard_curve)
    best = trials[[t.value for t in trials].index(res.value)]
    assert res.policy.confidence_weight == pytest.approx(best.params["confidence_weight"])  # η is searched with ndcg
    assert res.policy.rank_by == RankBy.CONFIDENCE  # the als default ranking, kept
    again = tune(ds, "als", 2, objective="ndcg", n_folds=2, seed=seed, storage=storage, guard_grid=GRID)
    assert again.n_trials == 2 and again.config == res.config and again.policy == res.policy  # nothing left to run
    with pytest.raises(DataValidationError, match="objective"):
        tune(ds, "als", 1, objective="mae")


def test_rmse_objective_searches_the_fit_only(seed: int) -> None:
    ds = synthetic_dataset(2000, n_users=50, n_items=60, seed=seed)
    res = tune(ds, "als", 2, n_folds=2, seed=seed, guard_grid=(3, 0))  # in memory
    assert res.objective == "rmse" and 0.3 < res.value < 2.0
    assert [c["min_ratings"] for c in res.guard_curve] == [0, 3]  # the grid asked for, not the default guard (20) too
    assert res.policy == ALS.default_policy.with_overrides(min_ratings=simplest_guard(res.guard_curve))  # η untouched
    file = res.to_file_dict("synthetic")
    assert file["models"] == {"als": res.config} and file["policies"] == {"als": res.policy.to_dict()}
    assert file["tuning"]["objective"] == "rmse" and file["tuning"]["n_trials"] == 2


def test_a_resumed_study_for_another_objective_dataset_inner_split_or_model_is_refused(tmp_path: Path, seed: int) -> None:
    ds = synthetic_dataset(1500, n_users=40, n_items=50, seed=seed)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    small = {"n_factors": 2, "n_iter": 2}
    tune(ds, "als", 1, n_folds=2, seed=seed, storage=storage, study_name="one", base=small, guard_grid=())
    other = synthetic_dataset(1500, n_users=40, n_items=50, seed=seed + 1)
    for kwargs, said in (
        ({"train": ds, "objective": "ndcg"}, "objective: study 'rmse', now 'ndcg'"),
        ({"train": other}, "fingerprint"),
        ({"train": ds, "inner": "stratified"}, "inner"),
        ({"train": ds, "provenance": {"protocol": "chrono"}}, "protocol"),
    ):
        with pytest.raises(DataValidationError, match=said):
            tune(model="als", n_trials=2, n_folds=2, seed=seed, storage=storage, study_name="one", base=small, guard_grid=(), **kwargs)
    with pytest.raises(DataValidationError, match="model: study 'als', now 'als-implicit'"):
        tune(ds, "als-implicit", 2, objective="ndcg", n_folds=2, storage=storage, study_name="one", guard_grid=())
    assert len(optuna.load_study(study_name="one", storage=storage).trials) == 1  # the refused runs added nothing
    resumed = tune(ds, "als", 2, n_folds=2, seed=seed, storage=storage, study_name="one", base=small, guard_grid=())
    assert resumed.n_trials == 2  # the same facts resume


def test_tune_refuses_what_it_cannot_search() -> None:
    ds = synthetic_dataset(500, n_users=20, n_items=30, seed=1)
    assert set(SPACES) == {"als", "als-implicit", "ease", "hybrid"}
    with pytest.raises(DataValidationError, match="tune: model must be one of"):
        tune(ds, "bias", 1)
    with pytest.raises(DataValidationError, match="does not predict ratings"):
        tune(ds, "als-implicit", 1, objective="rmse")
    with pytest.raises(DataValidationError, match="does not predict ratings"):
        tune(ds, "ease", 1, objective="rmse")
    with pytest.raises(DataValidationError, match="n_trials"):
        tune(ds, "als", -1)


def test_simplest_guard_is_the_smallest_within_one_standard_error_of_the_best() -> None:
    curve = [
        {"min_ratings": 50, "ndcg": 0.190, "ndcg_se": 0.020},
        {"min_ratings": 0, "ndcg": 0.100, "ndcg_se": 0.010},
        {"min_ratings": 20, "ndcg": 0.200, "ndcg_se": 0.010},  # the best: the bar is 0.200 - 0.010 = 0.190
        {"min_ratings": 5, "ndcg": 0.180, "ndcg_se": 0.500},  # its own wide SE does not lift it over the bar
        {"min_ratings": 10, "ndcg": 0.195, "ndcg_se": 0.010},
    ]
    assert simplest_guard(curve) == 10  # 10, 20 and 50 clear the bar; the smallest wins, not the best (20)
    assert simplest_guard([{**c, "ndcg_se": 0.0} for c in curve]) == 20  # no noise: the best itself
    tight = [c if c["min_ratings"] != 20 else {**c, "ndcg_se": 0.001} for c in curve]
    assert simplest_guard(tight) == 20  # 10 is 0.005 below the best: more than one SE
    assert simplest_guard([{"min_ratings": 30, "ndcg": 0.0, "ndcg_se": 0.0}, {"min_ratings": 0, "ndcg": 0.0, "ndcg_se": 0.0}]) == 0


def test_config_files_carry_configs_and_policies(tmp_path: Path) -> None:
    nested = tmp_path / "a.json"
    nested.write_text(json.dumps({
        "models": {"als": {"n_factors": 8}, "bias": {"item_damping": 5}},
        "policies": {"als": {"min_ratings": 7, "rank_by": "rating", "confidence_weight": 2.0}},
        "tuning": {},
    }))  # fmt: skip
    file = read_config_file(nested)
    assert file.configs == {"als": {"n_factors": 8}, "bias": {"item_damping": 5}}
    assert file.policies["als"] == RankingPolicy(7, RankBy.RATING, 2.0)
    assert file.policies["bias"] == make_default_policy("bias")  # no policy given: the model's default
    partial = tmp_path / "p.json"  # a policy given in part: the rest is the model's default, not RankingPolicy()'s
    partial.write_text(json.dumps({"models": {"als": {}}, "policies": {"als": {"min_ratings": 7}}}))
    assert read_config_file(partial).policies["als"] == ALS.default_policy.with_overrides(min_ratings=7)
    flat = tmp_path / "b.json"
    flat.write_text(json.dumps({"n_factors": 8, "reg": 0.2}))
    flat_file = read_config_file(flat)
    assert flat_file.configs == {"als": {"n_factors": 8, "reg": 0.2}} and flat_file.policies["als"] == ALS.default_policy
    model = model_from_file("als", flat_file, {"n_iter": 3}, {"min_ratings": 4})  # given options win over the file
    assert model.config == ALSConfig(n_factors=8, reg=0.2, n_iter=3) and model.policy == ALS.default_policy.with_overrides(min_ratings=4)
    with pytest.raises(DataValidationError, match="no 'hybrid' config"):
        model_from_file("hybrid", flat_file)
    old = tmp_path / "old.json"  # written before policies: the guard and η inside the config
    old.write_text(json.dumps({"models": {"als": {"n_factors": 8, "min_ratings": 3, "confidence_weight": 0.5}}}))
    old_file = read_config_file(old)
    assert old_file.configs == {"als": {"n_factors": 8}}
    assert old_file.policies["als"] == RankingPolicy(3, RankBy.CONFIDENCE, 0.5)
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"n_factor": 8}))
    with pytest.raises(DataValidationError, match="unknown ALSConfig keys"):
        read_config_file(bad)
    bad.write_text(json.dumps({"models": {"als": {}}, "policies": {"als": {"min_ratings": -1}}}))
    with pytest.raises(DataValidationError, match="min_ratings"):
        read_config_file(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(DataValidationError, match="JSON object"):
        read_config_file(bad)


def make_default_policy(name: str) -> RankingPolicy:
    from movierec.models import MODELS

    return MODELS[name].default_policy


def test_a_flat_config_file_with_another_models_keys_says_to_name_the_model(tmp_path: Path) -> None:
    flat = tmp_path / "hybrid.json"
    flat.write_text(json.dumps({"ease_weight": 0.3, "implicit": {"n_factors": 8}}))
    with pytest.raises(DataValidationError, match=r"flat als config: unknown ALSConfig keys .*\{\"models\": \{\"hybrid\""):
        read_config_file(flat)
