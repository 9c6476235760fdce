"""Tuning the hybrid's weights on ranking quality, inside the training data only.

Optuna (TPE, seeded) searches the hybrid's combination weights and its
implicit part — ``popularity_debias`` γ, ``rating_weight``, ``shrinkage``,
the implicit λ and α, and the guard ``min_ratings`` — maximising mean NDCG@k
(binary gain, relevance = any held-out rating) over k-fold splits of the
training side. The explicit part keeps its own (RMSE-tuned) configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.evaluation.tuning import _n_complete, _optuna, inner_folds
from movierec.models.hybrid import Hybrid, HybridConfig


@dataclass
class HybridTuneResult:
    """Best hybrid configuration found, its inner-CV NDCG@k and the study's facts."""

    config: HybridConfig
    value: float
    n_trials: int
    study_name: str
    storage: str | None
    n_folds: int

    def to_file_dict(self, source: str) -> dict[str, Any]:
        """The JSON written by ``movierec tune --model hybrid`` and read by ``--config``."""
        return {
            "models": {"hybrid": self.config.to_dict()},
            "tuning": {"objective": "ndcg", "value": self.value, "n_trials": self.n_trials, "study_name": self.study_name,
                       "storage": self.storage, "inner_folds": self.n_folds, "tuned_on": source},
        }  # fmt: skip


def tune_hybrid(
    train: Dataset,
    n_trials: int,
    *,
    base: HybridConfig | None = None,
    storage: str | None = None,
    study_name: str = "movierec-hybrid",
    n_folds: int = 2,
    k: int = 10,
    seed: int = 42,
    on_trial: Callable[[int, float | None, float], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> HybridTuneResult:
    """Search the hybrid's ranking weights on ``train`` only; resumable through ``storage``.

    Parameters
    ----------
    train : Dataset
        The training side of the outer split.
    n_trials : int
        Completed trials wanted (a resumed study runs only the missing ones).
    base : HybridConfig, optional
        Starting configuration; its explicit part is kept as it is.
    storage : str, optional
        Optuna storage URL (``"sqlite:///tune.db"``); None = in memory.

    Raises
    ------
    DataValidationError
        If ``n_trials`` < 0.
    BackendUnavailableError
        If Optuna is not installed.
    """
    if n_trials < 0:
        raise DataValidationError(f"n_trials must be >= 0, got {n_trials}")
    optuna = _optuna()
    base = base or HybridConfig()
    folds = inner_folds(train, n_folds, seed)
    study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True, direction="maximize")
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    if on_start:
        on_start(_n_complete(study))

    def config_of(params: dict[str, Any]) -> HybridConfig:
        implicit = dataclasses.replace(base.implicit, reg=params["implicit_reg"], alpha=params["implicit_alpha"], random_state=seed)
        return dataclasses.replace(
            base, implicit=implicit, popularity_debias=params["popularity_debias"], rating_weight=params["rating_weight"],
            shrinkage=params["shrinkage"], min_ratings=params["min_ratings"],
        )  # fmt: skip

    def run_trial(trial: Any) -> float:
        params = {
            "popularity_debias": trial.suggest_float("popularity_debias", 0.0, 0.8),
            "rating_weight": trial.suggest_float("rating_weight", 0.0, 1.0),
            "shrinkage": trial.suggest_float("shrinkage", 1.0, 100.0, log=True),
            "implicit_reg": trial.suggest_float("implicit_reg", 0.02, 0.5, log=True),
            "implicit_alpha": trial.suggest_float("implicit_alpha", 0.5, 20.0, log=True),
            "min_ratings": trial.suggest_int("min_ratings", 0, 30),
        }
        cfg = config_of(params)
        scores = []
        for split in folds:
            model = Hybrid(cfg).fit(split.train)
            by_guard, _ = ranking_metrics(model, split.test, EvalOptions(k=k), [cfg.min_ratings])
            scores.append(by_guard[cfg.min_ratings]["ndcg"])
        return float(np.mean(scores))

    def callback(study: Any, trial: Any) -> None:
        if on_trial:
            on_trial(trial.number, trial.value, study.best_value)

    remaining = n_trials - _n_complete(study)
    if remaining > 0:
        study.optimize(run_trial, n_trials=remaining, callbacks=[callback], gc_after_trial=False)
    if not _n_complete(study):
        raise DataValidationError(f"study {study_name!r} has no completed trial; run more trials")
    return HybridTuneResult(config_of(study.best_params), float(study.best_value), _n_complete(study), study_name, storage, n_folds)
