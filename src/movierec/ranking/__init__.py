"""Top-N: candidate filters, the popularity guard, the confidence ranking, fold-in, tie rule."""

from movierec.ranking.confidence import RANK_BY, confidence_scores, ranking_scores
from movierec.ranking.recommend import Recommendation, candidate_mask, recommend, user_state_for
from movierec.ranking.topk import top_k

__all__ = ["RANK_BY", "Recommendation", "candidate_mask", "confidence_scores", "ranking_scores", "recommend", "top_k", "user_state_for"]
