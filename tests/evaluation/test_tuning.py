"""Tuning in process: inner folds never touch the outer test side; config files; the ndcg objective."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movierec.config import ALSConfig
from movierec.data import synthetic_dataset
from movierec.errors import DataValidationError
from movierec.evaluation.protocols import SplitOptions, make_splits
from movierec.evaluation.tuning import SearchSpace, inner_folds, merge_config_file, read_config_file, tune_als

SMALL = SearchSpace(n_factors=(2, 8), n_iter=(2, 4), min_ratings=(0, 10))


def test_inner_folds_stay_inside_training_data(seed: int) -> None:
    ds = synthetic_dataset(3000, n_users=60, n_items=80, seed=seed)
    outer = next(iter(make_splits(ds, "random", SplitOptions(seed=seed))))
    test_pairs = set(outer.test.ratings.select("user_id", "movie_id").rows())
    folds = inner_folds(outer.train, 3, seed)
    for f in folds:
        inner = set(f.train.ratings.select("user_id", "movie_id").rows()) | set(f.test.ratings.select("user_id", "movie_id").rows())
        assert not inner & test_pairs and len(inner) == outer.train.n_ratings


def test_ndcg_objective_samples_min_ratings(tmp_path: Path, seed: int) -> None:
    ds = synthetic_dataset(2000, n_users=50, n_items=60, seed=seed)
    seen: list[int] = []
    res = tune_als(ds, 2, objective="ndcg", n_folds=2, seed=seed, space=SMALL,
                   storage=f"sqlite:///{tmp_path / 's.db'}", on_start=seen.append)  # fmt: skip
    assert seen == [0] and res.n_trials == 2 and 0 <= res.value <= 1
    assert 0 <= res.config.min_ratings <= 10 and 2 <= res.config.n_factors <= 8
    again = tune_als(ds, 2, objective="ndcg", n_folds=2, seed=seed, space=SMALL, storage=f"sqlite:///{tmp_path / 's.db'}")
    assert again.n_trials == 2 and again.config == res.config  # nothing left to run: the stored best is reported
    with pytest.raises(DataValidationError, match="objective"):
        tune_als(ds, 1, objective="mae")


def test_config_files(tmp_path: Path) -> None:
    nested = tmp_path / "a.json"
    nested.write_text(json.dumps({"models": {"als": {"n_factors": 8}, "bias": {"item_damping": 5}}, "tuning": {}}))
    assert read_config_file(nested) == {"als": {"n_factors": 8}, "bias": {"item_damping": 5}}
    flat = tmp_path / "b.json"
    flat.write_text(json.dumps({"n_factors": 8, "reg": 0.2}))
    assert read_config_file(flat) == {"als": {"n_factors": 8, "reg": 0.2}}
    cli = ALSConfig(n_iter=3)  # changed from the default: wins over the file
    assert merge_config_file(cli, flat) == ALSConfig(n_factors=8, reg=0.2, n_iter=3)
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"n_factor": 8}))
    with pytest.raises(DataValidationError, match="unknown ALSConfig keys"):
        read_config_file(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(DataValidationError, match="JSON object"):
        read_config_file(bad)
