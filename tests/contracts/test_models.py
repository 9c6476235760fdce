"""The model contract, run over every model of the registry (``MODELS``).

One list per user whatever the path (one user, a block, a frame, a written file), the reference
kernel route equal to the fast one, a refit that starts from nothing, a save/load round trip, and
model folders written by the previous format still loading with the same lists and predictions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from movierec import load, recommend, recommend_batch, save
from movierec.config import RankingPolicy
from movierec.data import Dataset, synthetic_dataset
from movierec.models import MODELS, Recommender, make_model
from movierec.ranking.batch import write_recommendations

SMALL: dict[str, dict[str, Any]] = {
    "als": {"n_factors": 4, "n_iter": 3},
    "hybrid": {"explicit": {"n_factors": 4, "n_iter": 3}, "implicit": {"n_factors": 4, "n_iter": 3, "solver": "cholesky"}},
    "als-implicit": {"n_factors": 4, "n_iter": 3, "solver": "cholesky"},
    "als-time": {"explicit": {"n_factors": 3, "n_iter": 3}, "item_time_bins": 4},
    "bias-time": {"explicit": {"n_iter": 3}, "item_time_bins": 4},
    "als-bayes": {"explicit": {"n_factors": 2, "n_iter": 2}, "n_burn": 1, "n_samples": 2},
    "als-bayes-time": {
        "temporal": {"explicit": {"n_factors": 2, "n_iter": 2}, "item_time_bins": 4}, "n_burn": 1, "n_samples": 2,
    },
    "ease": {"reg": 50.0, "max_items": 40},
}
"""Small configs (exact solvers, so the reference route solves the same systems)."""
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_models"


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic_dataset(1550, n_users=70, n_items=50, seed=5)  # 44% dense: every user has films left to rank


def build(name: str) -> Recommender:
    return make_model(name, SMALL.get(name), RankingPolicy(min_ratings=2, rank_by=MODELS[name].default_policy.rank_by))


_FITTED: dict[str, Recommender] = {}


def fitted(name: str, data: Dataset) -> Recommender:
    if name not in _FITTED:
        _FITTED[name] = build(name).fit(data)
    return _FITTED[name]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("rank_by", ["score", "rating", "confidence"])
def test_one_user_a_block_and_a_frame_give_the_same_list(name: str, rank_by: str, data: Dataset) -> None:
    model = fitted(name, data)
    users = model.users_.ids.to_list()[:25]
    frame = recommend_batch(model, users, k=6, rank_by=rank_by, block_size=7)
    for user in users:
        single = recommend(model, user, k=6, rank_by=rank_by)
        rows = frame.filter(pl.col("user_id") == user).sort("rank")
        assert rows["movie_id"].to_list() == [r.movie_id for r in single]
        assert rows["raw_score"].to_list() == [r.raw_score for r in single]  # bit for bit: one kernel, one sum order
        assert rows["score"].to_list() == pytest.approx([r.score for r in single], abs=1e-6)
        rated = set(model.items_.to_ids(model.user_state(user).rated_items(0)[0]))
        assert not rated & set(rows["movie_id"].to_list())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_written_file_equals_recommend(name: str, data: Dataset, tmp_path: Path) -> None:
    model = fitted(name, data)
    write_recommendations(model, tmp_path / "r.parquet", k=4, block_size=16)
    table = pl.read_parquet(tmp_path / "r.parquet")
    assert table["user_id"].n_unique() == model.n_users
    for user in model.users_.ids.to_list()[::9]:
        rows = table.filter(pl.col("user_id") == user).sort("rank")
        assert rows["movie_id"].to_list() == [r.movie_id for r in recommend(model, user, k=4)]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fold_in_cold_start_and_guard(name: str, data: Dataset) -> None:
    model = fitted(name, data)
    ids = model.items_.ids.to_list()
    folded = recommend(model, ratings=[(ids[0], 5.0), (ids[1], 1.0), (10**9, 4.0)], k=5)
    assert ids[0] not in {r.movie_id for r in folded} and ids[1] not in {r.movie_id for r in folded}
    assert model.fold_in([ids[0], 10**9], [5.0, 4.0]).unknown_movie_ids == [10**9]
    cold = recommend(model, None, k=5, min_ratings=30)
    assert all(r.n_ratings >= 30 for r in cold) and all(np.isfinite(r.raw_score) for r in cold)
    p = model.predict([model.users_.ids[0], -5], [ids[0], 10**9])
    assert np.isfinite(p.rating).all() and p.cold_start.tolist() == [False, True]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_refit_starts_from_nothing(name: str, data: Dataset) -> None:
    other = synthetic_dataset(2000, n_users=40, n_items=30, seed=9)
    model = build(name).fit(other)
    first = model.fit_id_
    model.fit(data)
    fresh = fitted(name, data)
    assert model.fit_id_ != first and model.n_users == fresh.n_users
    user = data.users.ids[3]
    assert [(r.movie_id, r.raw_score) for r in recommend(model, user, k=5)] == [(r.movie_id, r.raw_score) for r in recommend(fresh, user, k=5)]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_load_round_trip(name: str, data: Dataset, tmp_path: Path) -> None:
    model = fitted(name, data)
    back = load(save(model, tmp_path / name))
    assert back.name == name and back.config_dict() == model.config_dict() and back.policy == model.policy
    users = model.users_.ids.to_list()[:5]
    for u in users:
        assert recommend(back, u, k=5) == recommend(model, u, k=5)
    np.testing.assert_array_equal(back.predict(users, users).raw, model.predict(users, users).raw)


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n in SMALL and n != "ease"))  # ease has no kernel
def test_reference_kernel_route_equals_the_fast_route(name: str, data: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = fitted(name, data)
    monkeypatch.setenv("MOVIEREC_KERNEL", "reference")
    ref = build(name).fit(data)
    monkeypatch.delenv("MOVIEREC_KERNEL")
    users, items = np.repeat(data.users.ids.to_numpy()[:20], 5), np.tile(data.items.ids.to_numpy()[:5], 20)
    a, b = fast.predict(users, items).raw, ref.predict(users, items).raw
    np.testing.assert_allclose(a, b, atol=2e-3 if name != "als-bayes" else 2e-2)
    state = fast.user_states(np.arange(10))
    np.testing.assert_allclose(fast.score_block(state), ref.score_block(ref.user_states(np.arange(10))), atol=5e-3 if name != "als-bayes" else 5e-2)


def test_an_unknown_kernel_route_is_refused(data: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from movierec.errors import DataValidationError

    monkeypatch.setenv("MOVIEREC_KERNEL", "gpu")
    with pytest.raises(DataValidationError, match="MOVIEREC_KERNEL"):
        build("als").fit(data)


FORMAT_2_MODELS = ("ease", "als-bayes-time")
"""Models that came after model folders of format 1: no legacy fixture."""


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n not in FORMAT_2_MODELS))
def test_model_folders_of_format_1_still_load(name: str) -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())[name]
    model = load(FIXTURES / name)
    assert model.name == name
    users = expected["users"]
    for u in users:
        assert [r.movie_id for r in recommend(model, u, k=5)] == expected["lists"][str(u)]
    got = model.predict(users, model.items_.ids.to_list()[:3]).rating
    np.testing.assert_allclose(got, expected["predict"], rtol=0, atol=1e-6)
