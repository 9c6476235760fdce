"""Models: the maths, no I/O. ``MODELS`` maps the names used by the CLI to classes."""

from __future__ import annotations

import json
from typing import Any

from movierec.config import RankBy, RankingPolicy
from movierec.errors import DataValidationError
from movierec.models.als import ALS
from movierec.models.base import Predictions, Recommender, UserState
from movierec.models.baselines import BASELINES
from movierec.models.bayes import BayesConfig, BayesianALS
from movierec.models.bayes_time import BayesianTimeSVDpp, BayesTimeConfig
from movierec.models.ease import Ease, EaseConfig
from movierec.models.hybrid import Hybrid, HybridConfig
from movierec.models.implicit import ImplicitALS, ImplicitConfig
from movierec.models.temporal import BiasTime, TemporalALS, TemporalConfig

MODELS: dict[str, type[Recommender]] = {
    "als": ALS,
    "als-implicit": ImplicitALS,
    "hybrid": Hybrid,
    "als-time": TemporalALS,
    "bias-time": BiasTime,
    "als-bayes": BayesianALS,
    "als-bayes-time": BayesianTimeSVDpp,
    "ease": Ease,
}
MODELS.update(BASELINES)


def make_model(name: str, config: dict[str, Any] | None = None, policy: RankingPolicy | None = None) -> Recommender:
    """A new, unfitted model by name with a config dict and optionally its ranking policy.

    Raises
    ------
    DataValidationError
        If the name or a config key is unknown.
    """
    if name not in MODELS:
        raise DataValidationError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name].from_config(config or {}, policy)


def config_and_policy(meta: dict[str, Any], saved: bool = True) -> tuple[dict[str, Any], RankingPolicy]:
    """The config and ranking policy of a ``model.json``, of either format.

    Format 1 kept the policy inside the config: ``min_ratings`` at the top or in the ``explicit``
    sub-config (``als-time``, ``bias-time``, ``als-bayes``), and for ``als`` a ``confidence_weight``
    (None meant ranking by the predicted rating). Those keys are taken out of every level. A
    ``hybrid`` saved before its standardized blend keeps its raw blend (``standardize=False``), one
    saved before the EASE term stays without it (``ease_weight=0``), an ``als-bayes-time`` saved
    before its per-day user bias without it (``user_day_bias=False``): only for a saved model
    (``saved``); in a config file (``saved=False``) a key left out means the current default.
    """
    config = json.loads(json.dumps(meta.get("config") or {}))  # a deep copy
    if saved and meta["model"] == "hybrid" and "standardize" not in config:  # saved before the standardized blend
        config.update(standardize=False, popularity_weight=0.0)
    if saved and meta["model"] == "hybrid" and "ease_weight" not in config:  # saved before the EASE term
        config.update(ease_weight=0.0)
    if saved and meta["model"] == "als-bayes-time" and "user_day_bias" not in config:  # saved before b_{u,day}
        config.update(user_day_bias=False)
    if meta.get("format_version", 2) >= 2:
        return config, RankingPolicy.from_dict(meta["policy"])
    policy_keys = ("min_ratings", "confidence_weight")
    found = {k: config.pop(k) for k in policy_keys if k in config}
    for sub in ("explicit", "implicit"):
        inner = {k: config[sub].pop(k) for k in policy_keys if k in config.get(sub, {})}
        if "min_ratings" in inner and "min_ratings" not in found and sub == "explicit" and meta["model"] != "hybrid":
            found["min_ratings"] = inner["min_ratings"]
    default = MODELS[meta["model"]].default_policy
    changes: dict[str, Any] = {}
    if "min_ratings" in found:
        changes["min_ratings"] = found["min_ratings"]
    if meta["model"] == "als":
        weight = found.get("confidence_weight", default.confidence_weight)
        changes["rank_by"] = RankBy.SCORE if weight is None else RankBy.CONFIDENCE
        if weight is not None:
            changes["confidence_weight"] = weight
    return config, default.with_overrides(**changes)


__all__ = [
    "ALS",
    "BayesConfig",
    "BayesianALS",
    "BayesTimeConfig",
    "BayesianTimeSVDpp",
    "Ease",
    "EaseConfig",
    "BiasTime",
    "TemporalALS",
    "TemporalConfig",
    "Hybrid",
    "HybridConfig",
    "ImplicitALS",
    "ImplicitConfig",
    "MODELS",
    "Predictions",
    "Recommender",
    "UserState",
    "config_and_policy",
    "make_model",
]
