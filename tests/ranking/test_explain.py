"""Co-rating similarity and "because you rated ..." explanations (movierec.ranking.explain)."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.config import ALSConfig, RankingPolicy
from movierec.models import ALS
from movierec.ranking.explain import ItemSimilarity
from tests.conftest import small_dataset

ROWS = [  # user, movie, rating
    (1, 10, 5.0),
    (1, 20, 4.0),
    (1, 30, 1.0),
    (2, 10, 4.0),
    (2, 20, 5.0),
    (2, 30, 2.0),
    (2, 40, 1.0),
    (3, 10, 1.0),
    (3, 30, 5.0),
    (3, 40, 4.0),
    (4, 20, 2.0),
    (4, 40, 5.0),
]


@pytest.fixture
def model() -> ALS:
    return ALS(ALSConfig(n_factors=2, n_iter=2), policy=RankingPolicy(min_ratings=0)).fit(small_dataset([(*r, 0) for r in ROWS]))


def reference(model: ALS, shrinkage: float) -> np.ndarray:
    """Obviously-correct dense version of the docstring's formula."""
    r = model.user_items_.toarray().astype(np.float64)
    rated = r > 0
    means = r.sum(1) / rated.sum(1)
    x = np.where(rated, r - means[:, None], 0.0)
    norms = np.linalg.norm(x, axis=0)
    cos = (x.T @ x) / np.outer(norms, norms)
    n = rated.T.astype(float) @ rated.astype(float)
    return cos * n / (n + shrinkage)


def test_similarity_matches_the_formula(model: ALS) -> None:
    sim = ItemSimilarity(model, shrinkage=2.0)
    all_items = np.arange(model.n_items)
    np.testing.assert_allclose(sim.between(all_items, all_items), reference(model, 2.0), atol=1e-5)
    # Hand check for films 10 and 20: users 1 and 2 rated both.
    # user means: u1 = 10/3, u2 = 3; x(10) = [5/3, 1, -7/3, 0], x(20) = [2/3, 2, 0, 2 - 3.5]
    x10 = np.array([5 / 3, 1, -7 / 3, 0])
    x20 = np.array([2 / 3, 2, 0, -1.5])
    expected = x10 @ x20 / (np.linalg.norm(x10) * np.linalg.norm(x20)) * 2 / (2 + 2.0)
    assert sim.between(np.array([0]), np.array([1]))[0, 0] == pytest.approx(expected, abs=1e-6)


def test_most_similar_excludes_itself_and_non_positive(model: ALS) -> None:
    sim = ItemSimilarity(model, shrinkage=2.0)
    pos, vals = sim.most_similar(0, k=3)
    ref = reference(model, 2.0)[0]
    assert 0 not in pos and np.all(vals > 0)
    assert list(pos) == [i for i in np.argsort(-ref) if i != 0 and ref[i] > 0][:3]


def test_explanations_come_from_the_users_liked_films(model: ALS) -> None:
    sim = ItemSimilarity(model, shrinkage=2.0)
    state = model.fold_in([10, 30], [5.0, 1.0])  # likes 10 (at/above own mean), dislikes 30
    (e,) = sim.explain(state, np.array([model.items_.index(20)]))
    assert [r.movie_id for r in e.reasons] == [10] and e.reasons[0].rating == 5.0
    assert e.text == "Because you rated movie 10 (5★)"
    cold = model.fold_in([], [])
    assert sim.explain(cold, np.array([0]))[0].reasons == []
