"""Protocols on synthetic data: every model runs, rows add up, curves and guard are recorded."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.data import synthetic_dataset
from movierec.errors import DataValidationError
from movierec.evaluation.protocols import EvalOptions, SplitOptions, make_splits, run_protocol
from movierec.models import MODELS, make_model
from movierec.models.baselines import GlobalMean


@pytest.fixture
def ds(seed: int):  # noqa: ANN201
    return synthetic_dataset(4000, n_users=80, n_items=120, seed=seed)


@pytest.mark.parametrize("protocol", ["random", "kfold", "stratified", "chrono", "last-n"])
def test_every_protocol_accounts_for_every_row(ds, protocol: str, recwarn: pytest.WarningsRecorder) -> None:  # noqa: ANN001
    splits = list(make_splits(ds, protocol, SplitOptions(n_folds=3)))
    assert len(splits) == (3 if protocol == "kfold" else 1)
    for s in splits:
        assert s.train.n_ratings + s.test.n_ratings == ds.n_ratings
    if protocol == "kfold":
        keys = [set(s.test.ratings.select("user_id", "movie_id").rows()) for s in splits]
        assert sum(map(len, keys)) == len(set().union(*keys)) == ds.n_ratings
    if protocol == "last-n":
        assert any("leak" in str(w.message) for w in recwarn)
    with pytest.raises(DataValidationError, match="unknown protocol"):
        list(make_splits(ds, "temporal"))


def test_run_protocol_generic_over_models(ds, seed: int) -> None:  # noqa: ANN001
    models = ["als", "bias", "popular", "random", "mean"]
    unguarded = MODELS["als"].default_policy.with_overrides(min_ratings=0)  # the guard is the policy's, not the config's
    factory = lambda name: make_model(name, {"n_factors": 4, "n_iter": 3}, unguarded) if name == "als" else make_model(name)  # noqa: E731
    res = run_protocol(ds, "stratified", models, None, SplitOptions(seed=seed), EvalOptions(k=5, guard_grid=(0, 5, 1000)), factory=factory)
    summary = {r["model"]: r for r in res.summary()}
    assert list(summary) == models
    for name, row in summary.items():
        assert 0 <= row["precision"] <= 1 and 0 <= row["ndcg"] <= 1 and row["n_users_ranked"] == 80
        assert (row["rmse"] is None) == (name == "popular") and row["min_ratings"] == 0
    assert summary["mean"]["ndcg"] == 0.0  # a constant score earns nothing from ties
    assert summary["random"]["rmse"] > summary["bias"]["rmse"]
    assert [c["iteration"] for c in res.curves["als"]] == [1, 2, 3]
    assert all(np.isfinite([c["train_rmse"], c["test_rmse"]]).all() for c in res.curves["als"])
    guard = {g["min_ratings"]: g for g in res.guard["als"]}
    assert set(guard) == {0, 5, 1000}
    assert guard[1000]["coverage"] == 0.0 and guard[1000]["precision"] == 0.0  # nothing passes the guard
    assert len(res.popularity["als"]) == 80 * 5
    d = res.to_dict()
    assert d["summary"][0]["model"] == "als" and d["rows"][0]["split"] == "stratified"


def test_a_new_model_needs_only_a_factory(ds) -> None:  # noqa: ANN001
    class Shifted(GlobalMean):
        name = "shifted"

        def _predict_idx(self, u, i, t):  # noqa: ANN001, ANN202
            return super()._predict_idx(u, i, t) + 0.5

    res = run_protocol(ds, "random", ["shifted"], factory=lambda name: Shifted())
    assert res.rows[0]["model"] == "shifted" and res.rows[0]["rmse"] > 0
    base = run_protocol(ds, "random", ["mean"])
    assert res.rows[0]["rmse"] != base.rows[0]["rmse"]  # the subclass's predictions, not the base's, were scored
    with pytest.raises(DataValidationError, match="unknown model"):
        run_protocol(ds, "random", ["nope"])
    assert make_model("bias").name == "bias"
