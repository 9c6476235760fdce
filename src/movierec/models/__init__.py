"""Models: the maths, no I/O. ``MODELS`` maps the names used by the CLI to classes."""

from __future__ import annotations

from typing import Any

from movierec.errors import DataValidationError
from movierec.models.als import ALS
from movierec.models.base import Predictions, Recommender, UserState
from movierec.models.bayes import BayesConfig, BayesianALS
from movierec.models.hybrid import Hybrid, HybridConfig
from movierec.models.implicit import ImplicitALS, ImplicitConfig
from movierec.models.temporal import BiasTime, TemporalALS, TemporalConfig
from movierec.models.baselines import BASELINES

MODELS: dict[str, type[Recommender]] = {"als": ALS, "als-implicit": ImplicitALS, "hybrid": Hybrid, "als-time": TemporalALS, "bias-time": BiasTime, "als-bayes": BayesianALS}
MODELS.update(BASELINES)


def make_model(name: str, config: dict[str, Any] | None = None) -> Recommender:
    """A new, unfitted model by name with a config dict.

    Raises
    ------
    DataValidationError
        If the name or a config key is unknown.
    """
    if name not in MODELS:
        raise DataValidationError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name].from_config(config or {})


__all__ = ["ALS", "BayesConfig", "BayesianALS", "BiasTime", "TemporalALS", "TemporalConfig", "Hybrid", "HybridConfig", "ImplicitALS", "ImplicitConfig", "MODELS", "Predictions", "Recommender", "UserState", "make_model"]
