"""Evaluation: splits, rating/ranking/beyond-accuracy metrics, protocols, reports, tuning."""

from movierec.evaluation.metrics import (
    RatingMetrics,
    average_precision_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_items,
    rating_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
)
from movierec.evaluation.protocols import PROTOCOLS, EvalOptions, EvaluationResult, SplitOptions, evaluate, make_splits, run_protocol
from movierec.evaluation.splits import (
    Split,
    chrono_split,
    kfold_labels,
    last_n_split,
    ml100k_folds,
    random_split,
    recommenders_stratified_split,
    stratified_split,
    user_temporal_split,
)

__all__ = [
    "PROTOCOLS",
    "EvalOptions",
    "EvaluationResult",
    "RatingMetrics",
    "Split",
    "SplitOptions",
    "average_precision_at_k",
    "chrono_split",
    "evaluate",
    "hit_rate_at_k",
    "kfold_labels",
    "last_n_split",
    "make_splits",
    "ml100k_folds",
    "ndcg_at_k",
    "precision_at_k",
    "random_split",
    "recommenders_stratified_split",
    "rank_items",
    "rating_metrics",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "run_protocol",
    "stratified_split",
    "user_temporal_split",
]
