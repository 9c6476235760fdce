"""Hyperparameter search for explicit ALS with Optuna, cross-validated inside training data only.

The caller passes the *training* side of an outer split; the search never sees
the outer test set. Each trial fits ``n_folds`` inner folds (seeded k-fold over
the training ratings) and is scored by mean validation RMSE (``objective="rmse"``)
or mean validation NDCG@k (``objective="ndcg"``). Studies live in Optuna storage
(SQLite file), so an interrupted search resumes where it stopped.

The guard ``min_ratings`` does not change the fit, only the lists: with the
"ndcg" objective Optuna samples it with the other parameters; with "rmse" it is
chosen afterwards, for the best parameters, as the value of ``guard_grid`` with
the highest inner-CV NDCG@k. The confidence weight η of the default ranking
(``ALSConfig.confidence_weight``, ``movierec.ranking.confidence``) is sampled
too with the "ndcg" objective and kept at its default with "rmse". NDCG on a
protocol whose relevance is "rated it" rises towards the popularity list, so
an NDCG-tuned η (like an NDCG-tuned guard) tends to the top of its range.

References
----------
Akiba, Sano, Yanase, Ohta, Koyama. "Optuna: a next-generation hyperparameter
optimization framework". KDD 2019. doi:10.1145/3292500.3330701
Cawley, Talbot. "On over-fitting in model selection and subsequent selection
bias in performance evaluation". JMLR 11, 2010 (why tuning stays inside training).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from movierec.config import ALSConfig
from movierec.data.dataset import Dataset
from movierec.errors import BackendUnavailableError, DataValidationError
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.evaluation.splits import Split, kfold_labels
from movierec.models import ALS

GUARD_GRID = (0, 5, 10, 20, 30, 50, 75, 100, 150)


@dataclass
class SearchSpace:
    """Ranges searched (log scale for the positive reals and for n_factors).

    Attributes
    ----------
    n_factors : (low, high), default (8, 128)
    reg : (low, high), default (0.02, 0.5)
    bias_reg : (low, high), default (0.001, 0.5)
    n_iter : (low, high), default (5, 25)
    min_ratings : (low, high), default (0, 150); sampled only for the "ndcg" objective
    confidence_weight : (low, high), default (0.25, 5.0); log scale, sampled only for the "ndcg" objective
    """

    n_factors: tuple[int, int] = (8, 128)
    reg: tuple[float, float] = (0.02, 0.5)
    bias_reg: tuple[float, float] = (0.001, 0.5)
    n_iter: tuple[int, int] = (5, 25)
    min_ratings: tuple[int, int] = (0, 150)
    confidence_weight: tuple[float, float] = (0.25, 5.0)


@dataclass
class TuneResult:
    """Outcome of a search.

    Attributes
    ----------
    config : ALSConfig
        The best parameters, ``min_ratings`` included.
    value : float
        The best trial's inner-CV objective.
    n_trials : int
        Completed trials in the study (across resumes).
    guard_curve : list of dict
        Inner-CV ``min_ratings`` -> ``ndcg`` for the best parameters ("rmse" objective).
    """

    config: ALSConfig
    value: float
    objective: str
    n_trials: int
    study_name: str
    storage: str | None
    n_folds: int
    guard_curve: list[dict[str, float]] = field(default_factory=list)

    def to_file_dict(self, source: str) -> dict[str, Any]:
        """The JSON written by ``movierec tune`` and read by ``--config``."""
        return {
            "models": {"als": self.config.to_dict()},
            "tuning": {
                "objective": self.objective, "value": self.value, "n_trials": self.n_trials,
                "study_name": self.study_name, "storage": self.storage, "inner_folds": self.n_folds,
                "tuned_on": source, "guard_curve": self.guard_curve,
            },
        }  # fmt: skip


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BackendUnavailableError("tuning needs Optuna; install the extra: pip install 'movierec[evaluation]'") from exc
    return optuna


def inner_folds(train: Dataset, n_folds: int, seed: int) -> list[Split]:
    """The ``n_folds`` inner train/validation pairs of the training data (seeded k-fold)."""
    labels = kfold_labels(train, n_folds, seed)
    return [Split.from_mask(train, labels == f, f"inner {f + 1}/{n_folds}") for f in range(n_folds)]


def cross_validate(
    config: ALSConfig, folds: list[Split], k: int = 10, guard_grid: tuple[int, ...] = (), after_fold: Callable[[int, float], None] | None = None
) -> dict[str, Any]:
    """Mean validation RMSE of ALS(config) over the folds, and NDCG@k per guard value.

    Returns
    -------
    dict
        ``rmse`` (float) and ``ndcg`` (dict of min_ratings -> mean NDCG@k, binary
        gain, relevance = any validation rating; empty when ``guard_grid`` is empty).
    """
    rmses: list[float] = []
    ndcg: dict[int, list[float]] = {g: [] for g in guard_grid}
    for f, split in enumerate(folds):
        model = ALS(config).fit(split.train)
        r = split.test.ratings
        pred = model.predict(r["user_id"].to_list(), r["movie_id"].to_list()).rating
        rmses.append(float(np.sqrt(np.mean((pred - r["rating"].to_numpy()) ** 2))))
        if guard_grid:
            by_guard, _ = ranking_metrics(model, split.test, EvalOptions(k=k), list(guard_grid))
            for g in guard_grid:
                ndcg[g].append(by_guard[g]["ndcg"])
        if after_fold:
            after_fold(f, float(np.mean(rmses)))
    return {"rmse": float(np.mean(rmses)), "ndcg": {g: float(np.mean(v)) for g, v in ndcg.items()}}


def tune_als(
    train: Dataset,
    n_trials: int,
    *,
    storage: str | None = None,
    study_name: str = "movierec-als",
    objective: str = "rmse",
    n_folds: int = 3,
    k: int = 10,
    seed: int = 42,
    space: SearchSpace | None = None,
    guard_grid: tuple[int, ...] = GUARD_GRID,
    on_trial: Callable[[int, float | None, float], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> TuneResult:
    """Search ALS hyperparameters on ``train`` only; resumable through ``storage``.

    Parameters
    ----------
    train : Dataset
        The training side of the outer split (never its test side).
    n_trials : int
        Wanted number of completed trials in the study; a resumed study runs
        only the missing ones (0 left = just report the best).
    storage : str, optional
        An Optuna storage URL (``"sqlite:///tune.db"``); None = in memory.
    objective : {"rmse", "ndcg"}
    on_trial : callable, optional
        ``on_trial(trial_number, value_or_None_if_pruned, best_value)`` after each trial.
    on_start : callable, optional
        ``on_start(n_completed)`` once the study is opened (trials done before a resume).

    Raises
    ------
    DataValidationError
        Bad ``n_trials``, ``n_folds`` or objective.
    BackendUnavailableError
        If Optuna is not installed.
    """
    if objective not in ("rmse", "ndcg"):
        raise DataValidationError(f"objective must be 'rmse' or 'ndcg', got {objective!r}")
    if n_trials < 0:
        raise DataValidationError(f"n_trials must be >= 0, got {n_trials}")
    optuna = _optuna()
    space = space or SearchSpace()
    folds = inner_folds(train, n_folds, seed)
    study = optuna.create_study(
        storage=storage, study_name=study_name, load_if_exists=True,
        direction="minimize" if objective == "rmse" else "maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )  # fmt: skip
    # Seeded per resume: a resumed study must not replay the first session's samples.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    if on_start:
        on_start(_n_complete(study))

    def suggest(trial: Any) -> ALSConfig:
        return ALSConfig(
            n_factors=trial.suggest_int("n_factors", *space.n_factors, log=True),
            reg=trial.suggest_float("reg", *space.reg, log=True),
            bias_reg=trial.suggest_float("bias_reg", *space.bias_reg, log=True),
            n_iter=trial.suggest_int("n_iter", *space.n_iter),
            random_state=seed,
            min_ratings=trial.suggest_int("min_ratings", *space.min_ratings) if objective == "ndcg" else ALSConfig.min_ratings,
            confidence_weight=(
                trial.suggest_float("confidence_weight", *space.confidence_weight, log=True)
                if objective == "ndcg" else ALSConfig.confidence_weight
            ),
        )  # fmt: skip

    def run_trial(trial: Any) -> float:
        config = suggest(trial)

        def after_fold(f: int, mean_rmse: float) -> None:
            if objective == "rmse":
                trial.report(mean_rmse, f)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        grid = (config.min_ratings,) if objective == "ndcg" else ()
        cv = cross_validate(config, folds, k, grid, after_fold)
        trial.set_user_attr("rmse", cv["rmse"])
        return cv["rmse"] if objective == "rmse" else cv["ndcg"][config.min_ratings]

    def callback(study: Any, trial: Any) -> None:
        if on_trial:
            best = study.best_value if _n_complete(study) else float("nan")
            on_trial(trial.number, trial.value, best)

    budget = 3 * n_trials  # pruned trials do not count as completed; never loop forever
    while (remaining := n_trials - _n_complete(study)) > 0 and budget > 0:
        study.optimize(run_trial, n_trials=min(remaining, budget), callbacks=[callback], gc_after_trial=False)
        budget -= remaining
    if not _n_complete(study):
        raise DataValidationError(f"study {study_name!r} has no completed trial; run more trials")
    best = dict(study.best_params)
    best_min = int(best.pop("min_ratings", ALSConfig.min_ratings))
    config = ALSConfig(**best, random_state=seed, min_ratings=best_min)
    curve: list[dict[str, float]] = []
    if objective == "rmse" and guard_grid:
        cv = cross_validate(config, folds, k, tuple(guard_grid))
        curve = [{"min_ratings": g, "ndcg": v} for g, v in cv["ndcg"].items()]
        best_min = max(curve, key=lambda c: (c["ndcg"], -c["min_ratings"]))["min_ratings"]
        config = ALSConfig(**best, random_state=seed, min_ratings=int(best_min))
    return TuneResult(config, float(study.best_value), objective, _n_complete(study), study_name, storage, n_folds, curve)


def _n_complete(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def read_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Model configs from a JSON file written by ``movierec tune`` (or by hand).

    Accepted shapes: ``{"models": {"als": {...}, "bias": {...}}, ...}`` (other
    top-level keys, such as ``"tuning"``, are provenance and ignored), or a
    flat ``ALSConfig`` dict, taken as the config of ``"als"``.

    Raises
    ------
    DataValidationError
        If the file is not JSON, or not one of those shapes.
    FileNotFoundError
        If the file does not exist.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataValidationError(f"{path}: not a JSON config file ({exc})") from None
    if not isinstance(data, dict):
        raise DataValidationError(f"{path}: a config file holds a JSON object, found {type(data).__name__}")
    if "models" in data:
        models = data["models"]
        if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
            raise DataValidationError(f"{path}: 'models' must map model names to config objects")
        return {str(k): dict(v) for k, v in models.items()}
    ALSConfig.from_dict(data)  # validates a flat ALS config (raises on unknown keys)
    return {"als": data}


def merge_config_file(cli_config: ALSConfig, path: str | Path) -> ALSConfig:
    """The file's ``als`` config, overridden by every field of ``cli_config`` that differs from the default.

    Raises
    ------
    DataValidationError
        If the file has no ``als`` config or holds invalid values.
    """
    configs = read_config_file(path)
    if "als" not in configs:
        raise DataValidationError(f"{path}: no 'als' config; found models {sorted(configs)}")
    merged = ALSConfig.from_dict(configs["als"]).to_dict()
    default = ALSConfig().to_dict()
    merged.update({k: v for k, v in cli_config.to_dict().items() if v != default[k]})
    return ALSConfig.from_dict(merged)


def write_config_file(path: str | Path, content: dict[str, Any]) -> Path:
    """Write a config file (JSON, indented); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return path


__all__ = [
    "GUARD_GRID",
    "SearchSpace",
    "TuneResult",
    "cross_validate",
    "inner_folds",
    "merge_config_file",
    "read_config_file",
    "tune_als",
    "write_config_file",
]
