"""Top-N: candidate filters, the popularity guard, fold-in, tie rule."""

from movierec.ranking.recommend import Recommendation, candidate_mask, recommend, user_state_for
from movierec.ranking.topk import top_k

__all__ = ["Recommendation", "candidate_mask", "recommend", "top_k", "user_state_for"]
