"""The demo: one profile, the unguarded and the guarded top-10 side by side."""

from __future__ import annotations

from typing import Any

from movierec.data.profile import DEMO_PROFILE
from movierec.models.base import Recommender
from movierec.ranking.recommend import recommend


def demo_lists(model: Recommender, k: int = 10, min_ratings: int | None = None) -> dict[str, Any]:
    """Fold in ``DEMO_PROFILE``; the research list beside the production list.

    ``unguarded`` ranks every film by predicted rating alone with no guard —
    explicit matrix factorization as published. ``guarded`` is the model's own
    ranking (for ``hybrid``: choice, liking and evidence) with the popularity
    guard ``min_ratings``.

    Returns
    -------
    dict
        ``{"profile": [...], "unguarded": [Recommendation...], "guarded": [...], "min_ratings": int}``
    """
    state = model.fold_in([m for m, _ in DEMO_PROFILE], [r for _, r in DEMO_PROFILE])
    guard = model.policy.min_ratings if min_ratings is None else min_ratings
    return {
        "profile": list(DEMO_PROFILE),
        "unguarded": recommend(model, state, k=k, min_ratings=0, rank_by="rating"),
        "guarded": recommend(model, state, k=k, min_ratings=guard),
        "min_ratings": guard,
    }
