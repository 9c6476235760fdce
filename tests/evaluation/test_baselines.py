"""Baselines: hand-computed damped biases, the protocol, fold-in, save/load, registry names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec.data import synthetic_dataset
from movierec.errors import DataValidationError, UnknownIdError
from movierec.models import MODELS, make_model
from movierec.models.baselines import Bias
from movierec.ranking import recommend
from movierec.store import load, save
from tests.conftest import small_dataset

ROWS = [(1, 10, 4.0, 1), (1, 20, 3.0, 2), (2, 10, 5.0, 3), (2, 30, 2.0, 4)]


def test_registered_under_cli_names() -> None:
    for name in ("mean", "bias", "popular", "random"):
        assert name in MODELS and make_model(name).name == name
    with pytest.raises(DataValidationError, match="unknown config keys"):
        make_model("bias", {"damping": 3})
    with pytest.raises(DataValidationError):
        Bias(item_damping=-1)


def test_damped_biases_by_hand() -> None:
    ds = small_dataset(ROWS)
    m = make_model("bias", {"item_damping": 1.0, "user_damping": 2.0}).fit(ds)
    # μ = 3.5. b_10 = (0.5 + 1.5)/(1 + 2) = 2/3; b_20 = -0.5/2 = -0.25; b_30 = -1.5/2 = -0.75
    bi = dict(zip(m.items_.ids.to_list(), m.item_bias_.tolist()))
    assert bi[10] == pytest.approx(2 / 3) and bi[20] == pytest.approx(-0.25) and bi[30] == pytest.approx(-0.75)
    # b_u1 = ((0.5 - 2/3) + (-0.5 + 0.25)) / (2 + 2) = -0.104167; b_u2 = ((1.5 - 2/3) + (-1.5 + 0.75)) / 4 = 0.020833
    bu = dict(zip(m.users_.ids.to_list(), m.user_bias_.tolist()))
    assert bu[1] == pytest.approx(-0.416667 / 4, abs=1e-6) and bu[2] == pytest.approx(0.083333 / 4, abs=1e-6)
    # fold-in reproduces the formula for a new user who rated film 10 with 5 and film 30 with 1:
    # ((5 - 3.5 - 2/3) + (1 - 3.5 + 0.75)) / (2 + 2) = (0.833333 - 1.75) / 4 = -0.229167
    state = m.fold_in([10, 30], [5.0, 1.0])
    assert state.terms["bias"][0] == pytest.approx(-0.229167, abs=1e-6)
    assert m.predict([1], [20]).raw[0] == pytest.approx(3.5 + bu[1] - 0.25, abs=1e-6)


@pytest.mark.parametrize("name", ["mean", "bias", "popular", "random"])
def test_protocol_fold_in_and_round_trip(name: str, tmp_path: Path, seed: int) -> None:
    ds = synthetic_dataset(2000, n_users=40, n_items=60, seed=seed)
    model = make_model(name).fit(ds)
    state = model.fold_in([1, 2, 3], [5.0, 4.0, 1.0])
    scores = model.score_block(state)[0]
    assert scores.shape == (model.n_items,) and np.isfinite(scores).all()
    recs = recommend(model, ratings=[(1, 5.0), (2, 4.0), (3, 1.0)], k=5, min_ratings=0)
    assert len(recs) == 5 and not {1, 2, 3} & {r.movie_id for r in recs}  # fold-in excludes what was rated
    users = ds.ratings["user_id"].to_list()[:50]
    movies = ds.ratings["movie_id"].to_list()[:50]
    p = model.predict(users + [10_000], movies + [1])
    assert np.isfinite(p.rating).all() and p.cold_start[-1] and not p.cold_start[:-1].any()
    again = make_model(name).fit(ds)  # deterministic
    assert np.array_equal(again.predict(users, movies).raw, model.predict(users, movies).raw)
    save(model, tmp_path / name)
    loaded = load(tmp_path / name)
    assert np.array_equal(loaded.predict(users, movies).raw, model.predict(users, movies).raw)
    u0 = ds.users.ids[0]
    assert np.array_equal(loaded.score_block(loaded.user_state(u0)), model.score_block(model.user_state(u0)))


def test_most_popular_ranks_by_training_count_and_is_not_a_rating_model() -> None:
    ds = small_dataset(ROWS + [(3, 30, 4.0, 5), (4, 30, 1.0, 6)])
    m = make_model("popular").fit(ds)
    assert [r.movie_id for r in recommend(m, None, k=3, min_ratings=0)] == [30, 10, 20]  # cold start: the same list
    assert [r.movie_id for r in recommend(m, 1, k=3, min_ratings=0)] == [30]  # a training user's rated films left out
    with pytest.raises(UnknownIdError):
        recommend(m, 99, k=3, min_ratings=0)  # an unknown user is refused, not given the cold-start list
    assert m.predicts_ratings is False


def test_random_lists_differ_between_users_but_repeat(seed: int) -> None:
    ds = synthetic_dataset(2000, n_users=40, n_items=60, seed=seed)
    m = make_model("random", {"random_state": seed}).fit(ds)
    a, b = m.score_block(m.user_state(ds.users.ids[0]))[0], m.score_block(m.user_state(ds.users.ids[1]))[0]
    assert not np.array_equal(a, b)
    assert np.array_equal(a, m.score_block(m.user_state(ds.users.ids[0]))[0])
    both = m.score_block(m.user_states([0, 1]))  # a block scores each user as alone
    assert np.array_equal(both[0], a) and np.array_equal(both[1], b)
    r = ds.ratings["rating"].to_numpy()
    draws = m.predict(ds.ratings["user_id"].to_list(), ds.ratings["movie_id"].to_list()).raw
    assert abs(draws.mean() - r.mean()) < 0.1 and abs(draws.std() - r.std()) < 0.1
