"""Hyperparameter search with Optuna, cross-validated inside the training data only.

The caller passes the *training* side of an outer split; the search never sees the outer test set.
Each trial fits the model on the inner splits of that training side (``inner_splits``: k-fold, or
a per-user stratified or last-n split that matches the outer protocol's shape) and is scored by
mean validation RMSE (``objective="rmse"``, rating models) or mean validation NDCG@k
(``objective="ndcg"``, relevance = any held-out rating, lists ranked as the model serves them).
Studies live in Optuna storage (a SQLite file), so an interrupted search resumes where it stopped;
a study remembers the model, objective, inner split and data it was made for and refuses to be
resumed for anything else.

The guard ``min_ratings`` does not change the fit, only the lists. It is never searched by the
sampler (NDCG with relevance "rated it" rises towards the popularity list, so a sampled guard drifts
to the top of its range for noise-level gains); after the search, the inner-CV NDCG@k of the best
parameters is measured at every guard of ``GUARD_GRID`` and the *smallest* guard within one
standard error of the best is kept (the one-standard-error rule of Breiman et al. 1984).

References
----------
Akiba, Sano, Yanase, Ohta, Koyama. "Optuna: a next-generation hyperparameter optimization
framework". KDD 2019. doi:10.1145/3292500.3330701
Cawley, Talbot. "On over-fitting in model selection and subsequent selection bias in performance
evaluation". JMLR 11, 2010 (why tuning stays inside training).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from movierec.config import RankingPolicy
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, ParameterError, require_extra
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.evaluation.splits import Split, kfold_labels, last_n_split, stratified_split
from movierec.models import MODELS, Recommender, config_and_policy, make_model

GUARD_GRID = (0, 5, 10, 20, 30, 50, 75, 100, 150)
INNER_SPLITS = ("kfold", "stratified", "last-n")
INNER_HOLDOUT = 0.1
"""Share of each user's ratings an inner ``"stratified"`` split holds out (``inner_splits``)."""


def _als_space(trial: Any, objective: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = {
        "n_factors": trial.suggest_int("n_factors", 8, 128, log=True),
        "reg": trial.suggest_float("reg", 0.02, 0.5, log=True),
        "bias_reg": trial.suggest_float("bias_reg", 0.001, 0.5, log=True),
        "n_iter": trial.suggest_int("n_iter", 5, 25),
    }
    policy = (
        {"confidence_weight": trial.suggest_float("confidence_weight", 0.25, 5.0, log=True)}
        if objective == "ndcg"
        else {}
    )
    return config, policy


def _implicit_space(trial: Any, objective: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return {
        "n_factors": trial.suggest_int("n_factors", 16, 256, log=True),
        "reg": trial.suggest_float("reg", 0.005, 1.0, log=True),
        "alpha": trial.suggest_float("alpha", 0.5, 50.0, log=True),
        "n_iter": trial.suggest_int("n_iter", 5, 30),
    }, {}


def _hybrid_space(trial: Any, objective: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return {
        "rating_weight": trial.suggest_float("rating_weight", 0.0, 1.0),
        "popularity_weight": trial.suggest_float("popularity_weight", -0.5, 0.5),
        "popularity_debias": trial.suggest_float("popularity_debias", 0.0, 0.6),
        "shrinkage": trial.suggest_float("shrinkage", 1.0, 100.0, log=True),
        "implicit": {
            "reg": trial.suggest_float("implicit_reg", 0.05, 3.0, log=True),
            "alpha": trial.suggest_float("implicit_alpha", 1.0, 30.0, log=True),
        },
        "ease_weight": trial.suggest_float("ease_weight", 0.0, 1.5),
        "ease": {"reg": trial.suggest_float("ease_reg", 25.0, 2500.0, log=True)},
    }, {}


def _ease_space(trial: Any, objective: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"reg": trial.suggest_float("reg", 10.0, 10_000.0, log=True)}, {}


SPACES: dict[str, Callable[[Any, str], tuple[dict[str, Any], dict[str, Any]]]] = {
    "als": _als_space,
    "ease": _ease_space,
    "als-implicit": _implicit_space,
    "hybrid": _hybrid_space,
}
"""Search space of each tunable model: ``space(trial, objective) -> (config changes, policy changes)``."""


@dataclass
class TuneResult:
    """Outcome of a search.

    Attributes
    ----------
    model : str
    config : dict
        The best configuration (the model's full config dict).
    policy : RankingPolicy
        The model's default policy with the chosen guard (and η for ``als`` tuned on NDCG).
    value : float
        The best trial's inner-CV objective.
    guard_curve : list of dict
        Inner-CV ``min_ratings`` -> ``ndcg`` (and its standard error) for the best parameters.
    """

    model: str
    config: dict[str, Any]
    policy: RankingPolicy
    value: float
    objective: str
    n_trials: int
    study_name: str
    storage: str | None
    n_folds: int
    inner: str
    guard_curve: list[dict[str, float]] = field(default_factory=list)

    def to_file_dict(self, source: str) -> dict[str, Any]:
        """The JSON written by ``movierec tune`` and read by ``--config``."""
        return {
            "models": {self.model: self.config},
            "policies": {self.model: self.policy.to_dict()},
            "tuning": {
                "model": self.model,
                "objective": self.objective,
                "value": self.value,
                "n_trials": self.n_trials,
                "study_name": self.study_name,
                "storage": self.storage,
                "inner_folds": self.n_folds,
                "inner_split": self.inner,
                "tuned_on": source,
                "guard_curve": self.guard_curve,
            },
        }


def _optuna() -> Any:
    require_extra("evaluation", "tuning", ("optuna",))
    import optuna

    return optuna


def inner_splits(train: Dataset, kind: str = "kfold", n_folds: int = 3, seed: int = 42, last_n: int = 5) -> list[Split]:
    """Validation splits carved from the training side only.

    ``"kfold"``: ``n_folds`` seeded folds of the ratings; ``"stratified"``: ``n_folds`` seeded 90/10
    per-user splits; ``"last-n"``: one split holding out each user's ``last_n`` latest ratings.

    The stratified holdout is small on purpose: a validation model trained on 90% of the training
    side wants nearly the regularisation the final model wants. On ml-100k a 75/25 inner split
    preferred implicit λ 1.0 over 0.2, which lost 0.037 NDCG@10 on the outer test; 90/10 ranked
    them as the outer test does.
    """
    if kind == "kfold":
        labels = kfold_labels(train, n_folds, seed)
        return [Split.from_mask(train, labels == f, f"inner {f + 1}/{n_folds}") for f in range(n_folds)]
    if kind == "stratified":
        return [
            Split.from_mask(train, stratified_split(train, INNER_HOLDOUT, seed + f), f"inner stratified {f + 1}")
            for f in range(n_folds)
        ]
    if kind == "last-n":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # the per-user split warns that it is not global; inside training it is what we want
            return [Split.from_mask(train, last_n_split(train, last_n), f"inner last-{last_n}")]
    raise DataValidationError(f"inner split must be one of {', '.join(INNER_SPLITS)}; got {kind!r}")


def cross_validate(
    model_name: str, config: dict[str, Any], policy: RankingPolicy, folds: list[Split], k: int = 10,
    guard_grid: tuple[int, ...] = (), after_fold: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Mean validation RMSE (rating models) and NDCG@k over the folds, at the policy's guard and each of ``guard_grid``.

    Returns
    -------
    dict
        ``rmse`` (float or None), ``ndcg`` and ``ndcg_se`` (dicts of min_ratings -> mean NDCG@k and its
        standard error over the validation users of every fold).
    """
    rmses: list[float] = []
    grid = sorted({policy.min_ratings, *guard_grid})
    per_user: dict[int, list[float]] = {g: [] for g in grid}
    for f, split in enumerate(folds):
        model = make_model(model_name, config, policy).fit(split.train)
        if model.predicts_ratings:
            r = split.test.ratings
            pred = model.predict(r["user_id"].to_list(), r["movie_id"].to_list()).rating
            rmses.append(float(np.sqrt(np.mean((pred - r["rating"].to_numpy()) ** 2))))
        by_guard, _ = ranking_metrics(model, split.test, EvalOptions(k=k), grid, per_user=True)
        for g in grid:
            per_user[g].extend(by_guard[g]["ndcg_per_user"])
        if after_fold:
            after_fold(f, float(np.mean(rmses)) if rmses else float("nan"))
    ndcg = {g: float(np.mean(v)) if v else 0.0 for g, v in per_user.items()}
    se = {g: float(np.std(v) / np.sqrt(len(v))) if v else 0.0 for g, v in per_user.items()}
    return {"rmse": float(np.mean(rmses)) if rmses else None, "ndcg": ndcg, "ndcg_se": se}


def simplest_guard(curve: list[dict[str, float]]) -> int:
    """The smallest guard whose NDCG is within one standard error of the best guard's."""
    best = max(curve, key=lambda c: c["ndcg"])
    return int(min(c["min_ratings"] for c in curve if c["ndcg"] >= best["ndcg"] - best["ndcg_se"]))


def tune(
    train: Dataset,
    model: str,
    n_trials: int,
    *,
    objective: str = "rmse",
    base: dict[str, Any] | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    inner: str = "kfold",
    n_folds: int = 3,
    k: int = 10,
    seed: int = 42,
    provenance: dict[str, Any] | None = None,
    guard_grid: tuple[int, ...] = GUARD_GRID,
    on_trial: Callable[[int, float | None, float], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> TuneResult:
    """Search a model's hyperparameters on ``train`` only; resumable through ``storage``.

    Parameters
    ----------
    train : Dataset
        The training side of the outer split (never its test side).
    model : str
        A key of ``SPACES`` (als, als-implicit, hybrid).
    n_trials : int
        Completed trials wanted in the study; a resumed study runs only the missing ones.
    objective : {"rmse", "ndcg"}
        "rmse" only for rating models.
    base : dict, optional
        Config the search starts from (its unsearched fields are kept).
    storage : str, optional
        Optuna storage URL (``"sqlite:///tune.db"``); None = in memory.
    inner : {"kfold", "stratified", "last-n"}
        How validation splits are carved from ``train`` (``inner_splits``).
    provenance : dict, optional
        Facts that identify the search besides model and objective (``protocol``, data
        ``fingerprint``): a study made for other facts is refused.
    on_trial, on_start : callable, optional
        ``on_trial(number, value or None if pruned, best)``; ``on_start(n_completed)``.

    Raises
    ------
    DataValidationError
        An unknown model or objective, n_trials < 0, RMSE for a ranking-only model, or a stored
        study made for another model, objective, inner split or dataset.
    BackendUnavailableError
        If Optuna is not installed.
    """
    if model not in SPACES:
        raise DataValidationError(f"tune: model must be one of {', '.join(SPACES)}; got {model!r}")
    if objective not in ("rmse", "ndcg"):
        raise ParameterError("objective", "'rmse' or 'ndcg'", objective)
    if objective == "rmse" and not MODELS[model].predicts_ratings:
        raise DataValidationError(f"tune: {model} does not predict ratings; use objective ndcg")
    if n_trials < 0:
        raise ParameterError("n_trials", ">= 0", n_trials)
    optuna = _optuna()
    default = make_model(model, base)
    base_config, base_policy = default.config_dict(), default.policy
    folds = inner_splits(train, inner, n_folds, seed)
    name = study_name or f"movierec-{model}"
    facts = {"model": model, "objective": objective, "inner": inner, "n_folds": n_folds, "k": k,
             "fingerprint": train.fingerprint(), **(provenance or {})}  # fmt: skip
    study = optuna.create_study(
        storage=storage, study_name=name, load_if_exists=True,
        direction="minimize" if objective == "rmse" else "maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )  # fmt: skip
    _check_study(study, facts, storage, _space_names(model, objective))
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))  # a resume must not replay samples
    if on_start:
        on_start(_n_complete(study))

    def params_of(trial: Any) -> tuple[dict[str, Any], RankingPolicy]:
        changes, policy_changes = SPACES[model](trial, objective)
        return _merged(base_config, changes), base_policy.with_overrides(**policy_changes)

    def run_trial(trial: Any) -> float:
        config, policy = params_of(trial)

        def after_fold(f: int, mean_rmse: float) -> None:
            if objective == "rmse":
                trial.report(mean_rmse, f)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        cv = cross_validate(model, config, policy, folds, k, (), after_fold)
        if cv["rmse"] is not None:
            trial.set_user_attr("rmse", cv["rmse"])
        return cv["rmse"] if objective == "rmse" else cv["ndcg"][policy.min_ratings]

    def callback(study: Any, trial: Any) -> None:
        if on_trial:
            best = study.best_value if _n_complete(study) else float("nan")
            on_trial(trial.number, trial.value, best)

    budget = 3 * n_trials  # pruned trials do not count as completed; never loop forever
    while (remaining := n_trials - _n_complete(study)) > 0 and budget > 0:
        study.optimize(run_trial, n_trials=min(remaining, budget), callbacks=[callback], gc_after_trial=False)
        budget -= remaining
    if not _n_complete(study):
        raise DataValidationError(f"study {name!r} has no completed trial; run more trials")
    config, policy = params_of(optuna.trial.FixedTrial(study.best_params))
    curve: list[dict[str, float]] = []
    if guard_grid:
        cv = cross_validate(model, config, policy, folds, k, tuple(guard_grid))
        curve = [
            {"min_ratings": g, "ndcg": cv["ndcg"][g], "ndcg_se": cv["ndcg_se"][g]} for g in sorted(set(guard_grid))
        ]  # not the default's guard
        policy = policy.with_overrides(min_ratings=simplest_guard(curve))
    return TuneResult(model, config, policy, float(study.best_value), objective, _n_complete(study), name, storage,
                      n_folds, inner, curve)  # fmt: skip


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _space_names(model: str, objective: str) -> set[str]:
    """The names of the parameters ``SPACES[model]`` suggests."""
    names: set[str] = set()

    class Recorder:
        def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
            names.add(name)
            return low

        def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
            names.add(name)
            return low

    SPACES[model](Recorder(), objective)
    return names


def _check_study(study: Any, facts: dict[str, Any], storage: str | None, space: set[str]) -> None:
    """Record the study's facts when new; refuse a stored study made for other facts or another search space.

    The space is read from the stored trials' parameters, so a study made before a model's space
    changed (a movierec upgrade) is refused here, not by Optuna after the new trials have run.
    """
    stored = study.user_attrs.get("facts")
    if stored is None:
        if study.trials:  # made by an older movierec that did not record its facts
            raise DataValidationError(
                f"study {study.study_name!r} in {storage} has trials but no record of what it tuned; "
                "give another --out or --study, or delete the study file"
            )
        study.set_user_attr("facts", facts)
        return
    diff = {k: (stored.get(k), v) for k, v in facts.items() if stored.get(k) != v}
    if diff:
        said = "; ".join(f"{k}: study {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise DataValidationError(
            f"study {study.study_name!r} in {storage} was made for another search ({said}); "
            "give another --out or --study, or delete the study file to start afresh"
        )
    odd = [set(trial.params) for trial in study.trials if trial.params and set(trial.params) != space]
    if odd:
        tried = set().union(*odd)
        changed = ", ".join(
            [f"new: {', '.join(sorted(space - tried))}"] * bool(space - tried)
            + [f"gone: {', '.join(sorted(tried - space))}"] * bool(tried - space)
        )
        raise DataValidationError(
            f"study {study.study_name!r} in {storage} searched another parameter space ({changed}); "
            "give another --out or --study, or delete the study file to start afresh"
        )


def _n_complete(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


@dataclass
class ConfigFile:
    """A config file: model configs and ranking policies by model name."""

    configs: dict[str, dict[str, Any]]
    policies: dict[str, RankingPolicy]


def read_config_file(path: str | Path) -> ConfigFile:
    """Model configs and policies from a JSON file written by ``movierec tune`` (or by hand).

    Accepted shapes: ``{"models": {"als": {...}, ...}, "policies": {"als": {...}}, ...}`` (other
    top-level keys, such as ``"tuning"``, are provenance and ignored), or a flat ``ALSConfig`` dict,
    taken as the config of ``"als"``. Files of earlier versions kept ``min_ratings`` and
    ``confidence_weight`` inside a config: they are read as its policy. A key a config leaves out
    takes the model's current default (a ``hybrid`` config without ``ease_weight`` keeps the EASE
    term), unlike a saved model's ``model.json``, where it means the model predates that key.

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
    models = data.get("models", {"als": data})
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise DataValidationError(f"{path}: 'models' must map model names to config objects")
    configs, policies = {}, {}
    for name, config in models.items():
        if name not in MODELS:
            raise DataValidationError(f"{path}: unknown model {name!r}; known: {sorted(MODELS)}")
        stored_policy = (data.get("policies") or {}).get(name)
        if isinstance(stored_policy, dict):  # a policy given in part keeps the model's default for the rest
            stored_policy = {**MODELS[name].default_policy.to_dict(), **stored_policy}
        meta = {"model": name, "config": config, "format_version": 2 if stored_policy else 1, "policy": stored_policy}
        configs[name], policies[name] = config_and_policy(meta, saved=False)  # keys left out: today's defaults
        try:
            make_model(name, configs[name])  # validates (unknown keys, bad values)
        except DataValidationError as exc:
            if "models" in data or "unknown ALSConfig keys" not in str(exc):
                raise
            raise DataValidationError(
                f"{path}: a file without 'models' is a flat als config: {exc}; for another model write "
                '{"models": {"hybrid": {...}}}'
            ) from None
    return ConfigFile(configs, policies)


def write_config_file(path: str | Path, content: dict[str, Any]) -> Path:
    """Write a config file (JSON, indented); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return path


def model_from_file(
    name: str, file: ConfigFile, overrides: dict[str, Any] | None = None, policy: dict[str, Any] | None = None
) -> Recommender:
    """The model ``name`` configured by the file; ``overrides`` merged into its config, ``policy`` into its policy."""
    if name not in file.configs:
        raise DataValidationError(f"config file has no {name!r} config; it has {sorted(file.configs)}")
    config = _merged(file.configs[name], overrides or {})
    return make_model(name, config, file.policies[name].with_overrides(**(policy or {})))


__all__ = [
    "ConfigFile", "GUARD_GRID", "INNER_SPLITS", "SPACES", "TuneResult", "cross_validate", "inner_splits",
    "model_from_file", "read_config_file", "simplest_guard", "tune", "write_config_file",
]  # fmt: skip
