"""The retrain gate's parts: which rows are held out, how both versions are scored, and the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.config import ALSConfig
from movierec.errors import ParameterError
from movierec.evaluation.gate import Margins, check_fraction, decide, finite_problem, holdout_mask, score, seen_mask
from movierec.evaluation.splits import Split
from movierec.models import ALS, make_model
from tests.conftest import small_dataset

ROWS = [(1, 10, 4.0, 100), (1, 11, 3.0, 200), (1, 12, 5.0, 900),
        (2, 10, 2.0, 850), (2, 13, 4.0, 950),
        (3, 11, 1.0, 300), (3, 12, 2.0, 800)]  # fmt: skip


def _held(mask: np.ndarray) -> list[tuple[int, int]]:
    r = small_dataset(ROWS).ratings.filter(mask)
    return sorted(zip(r["user_id"].to_list(), r["movie_id"].to_list(), strict=True))


def test_holdout_is_the_newest_share_of_users_with_older_rows() -> None:
    data = small_dataset(ROWS)
    # 7 rows, fraction 0.4: cutoff at sorted position round(0.6 · 7) = 4, ts 850. Recent: (2,10), (1,12), (2,13);
    # user 2 has no row before 850, so only (1,12) is held out.
    assert _held(holdout_mask(data, 0.4)) == [(1, 12)]


def test_holdout_never_takes_a_row_the_current_version_trained_on() -> None:
    data = small_dataset(ROWS)
    seen = [(1, 10, 4.0, 1), (1, 11, 3.0, 1), (1, 12, 5.0, 1), (2, 10, 2.0, 1), (3, 11, 1.0, 1), (3, 12, 1.5, 1)]
    current = make_model("mean").fit(small_dataset(seen))
    assert _held(~seen_mask(current, data.ratings)) == [(2, 13), (3, 12)]  # (3,12) was rated 1.5 then: a new rating
    # Unseen ts [800, 950]; fraction 0.4: position min(round(1.2), 1) = 1, cutoff 950: (2,13), and user 2 rated at 850.
    assert _held(holdout_mask(data, 0.4, seen_by=current)) == [(2, 13)]
    # Fraction 0.9: position round(0.2) = 0, cutoff 800: (3,12) and (2,13) recent; user 2 has nothing before 800.
    assert _held(holdout_mask(data, 0.9, seen_by=current)) == [(3, 12)]
    everything = make_model("mean").fit(data)
    assert not holdout_mask(data, 0.4, seen_by=everything).any()


def test_score_ranks_every_held_out_user_as_served_known_to_the_model_or_not(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [(u, m, float(rng.integers(1, 11)) / 2, int(rng.integers(1000, 9000))) for u in range(1, 31)
            for m in range(1, 41) if rng.random() < 0.5]  # fmt: skip
    data = small_dataset(rows)
    split = Split.from_mask(data, holdout_mask(data, 0.2), "gate")
    model = make_model("bias").fit(split.train.subset(split.train.ratings["user_id"] != 1))  # user 1 unknown to it
    s = score(model, split.train, split.test)
    held_users = split.test.ratings["user_id"].n_unique()
    assert 1 in split.test.ratings["user_id"].to_list() and s["n_users_ranked"] == held_users
    held = split.test.ratings
    cold = (held["user_id"] == 1).to_numpy() | (model.items_.positions(held["movie_id"].to_list()) < 0)
    assert s["n_cold_pairs"] == int(cold.sum()) >= 1  # user 1's rows: predicted by the cold-start fallback
    assert 0.0 <= s["ndcg"] <= 1.0 and s["rmse"] > 0 and s["n_pairs"] == split.test.n_ratings


def test_decide_rejects_beyond_a_margin_and_names_the_metric() -> None:
    margins = Margins(ndcg=0.01, rmse=0.01)
    current = {"ndcg": 0.32, "rmse": 0.90}
    assert decide({"ndcg": 0.315, "rmse": 0.905}, current, margins).passed  # worse, within both margins
    assert decide({"ndcg": 0.31, "rmse": 0.91}, current, margins).passed  # exactly at both margins
    v = decide({"ndcg": 0.30, "rmse": 0.85}, current, margins)
    assert not v.passed and v.reasons == [
        "NDCG@10 0.3000 is below the current version's 0.3200 by 0.0200, more than the margin 0.01"
    ]
    v = decide({"ndcg": 0.40, "rmse": 0.95}, current, margins)
    assert not v.passed and len(v.reasons) == 1 and v.reasons[0].startswith("RMSE 0.9500 is above")
    v = decide({"ndcg": 0.40, "rmse": None}, current, margins)  # a ranking-only candidate
    assert v.passed and v.notes == ["RMSE not compared: the candidate gives none"]
    v = decide({"ndcg": float("nan"), "rmse": 0.9}, current, margins)
    assert not v.passed and "not finite" in v.reasons[0]


def test_a_non_finite_model_is_named(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [(u, m, float(rng.integers(1, 11)) / 2, 1) for u in range(1, 11) for m in range(1, 9) if rng.random() < 0.7]
    model = ALS(ALSConfig(n_factors=2, n_iter=2)).fit(small_dataset(rows))
    assert finite_problem(model) is None
    model.user_factors_[0, 0] = np.nan
    problem = finite_problem(model)
    assert problem is not None and "1 non-finite values in user_factors_" in problem


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, float("nan")])
def test_bad_fraction_and_margins_are_refused(bad: float) -> None:
    with pytest.raises(ParameterError, match="holdout must be a fraction strictly between 0 and 1"):
        check_fraction(bad)
    if bad < 0 or bad != bad:
        with pytest.raises(ParameterError, match="margin_rmse must be a finite number >= 0"):
            Margins(rmse=bad).check()
