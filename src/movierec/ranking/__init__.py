"""Top-N: the one top-k, candidates and the popularity guard, what lists rank by, fold-in, batch lists."""

from movierec.config import RankBy, RankingPolicy
from movierec.ranking.batch import recommend_batch
from movierec.ranking.index import RankingIndex, index_for
from movierec.ranking.lists import Ranked, rank_states
from movierec.ranking.recommend import Recommendation, Recommendations, recommend, user_state_for
from movierec.ranking.topk import top_k

__all__ = [
    "RankBy",
    "Ranked",
    "RankingIndex",
    "RankingPolicy",
    "Recommendation",
    "Recommendations",
    "index_for",
    "rank_states",
    "recommend",
    "recommend_batch",
    "top_k",
    "user_state_for",
]
