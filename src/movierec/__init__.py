"""movierec: explicit-rating recommendations by alternating least squares, built to ship.

Public API::

    from movierec import load_movielens, ALS, ALSConfig, recommend, save, load
"""

from movierec.config import ALSConfig, RankBy, RankingPolicy
from movierec.data import Dataset, RatingScale, load_movielens
from movierec.errors import (
    ArtifactError,
    BackendUnavailableError,
    DataValidationError,
    FitError,
    MovierecError,
    NotFittedError,
    UnknownIdError,
)
from movierec.evaluation import evaluate
from movierec.models import ALS, MODELS, Recommender, UserState, make_model
from movierec.ranking import Recommendation, recommend, recommend_batch
from movierec.store import load, save

__version__ = "0.1.0"

__all__ = [
    "ALS",
    "ALSConfig",
    "ArtifactError",
    "BackendUnavailableError",
    "DataValidationError",
    "Dataset",
    "FitError",
    "MODELS",
    "MovierecError",
    "NotFittedError",
    "RatingScale",
    "RankBy",
    "RankingPolicy",
    "Recommendation",
    "Recommender",
    "UnknownIdError",
    "UserState",
    "__version__",
    "evaluate",
    "load",
    "load_movielens",
    "make_model",
    "recommend",
    "recommend_batch",
    "save",
]
